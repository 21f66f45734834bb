// Package validate checks trialog's deployment files — the Dockerfile, the compose files and
// the Kubernetes manifests — with the libraries the real tools use (compose-go, which docker
// compose is built on; Kubernetes' own API types decoded strictly, as kubectl does; BuildKit's
// Dockerfile parser), so that they stay valid on machines where no container runtime runs.
// It is a module of its own so that trialogd's dependencies do not grow by these.
package validate
