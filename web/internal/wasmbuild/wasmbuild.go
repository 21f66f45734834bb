// Package wasmbuild builds the pages' verifier: web/wasm compiled with
// GOOS=js GOARCH=wasm, and the wasm_exec.js of the same Go toolchain, which
// loads it. `go generate ./web` writes both into web/assets; tests write
// them into a directory of their own, so they always test the current
// source.
package wasmbuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build writes verifier.wasm and wasm_exec.js into dir, with the go command
// on PATH (or $GO), run from the module root moduleDir.
func Build(moduleDir, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	gocmd := os.Getenv("GO")
	if gocmd == "" {
		gocmd = "go"
	}
	goroot, err := output(moduleDir, nil, gocmd, "env", "GOROOT")
	if err != nil {
		return err
	}
	var execJS []byte
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if execJS, err = os.ReadFile(filepath.Join(goroot, p)); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wasm_exec.js is in neither lib/wasm nor misc/wasm of GOROOT %s", goroot)
	}
	tmp := filepath.Join(dir, ".verifier.wasm.tmp")
	env := append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if _, err := output(moduleDir, env, gocmd, "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, "./web/wasm"); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "verifier.wasm")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "wasm_exec.js"), execJS, 0o644)
}

func output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
