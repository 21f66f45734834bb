package web

//go:generate go run ./internal/genverifier
