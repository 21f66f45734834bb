//go:build !linux

package testdb

import (
	"os/exec"
	"syscall"
)

// procAttr returns nil: process groups and parent-death signals are only
// set up on Linux.
func procAttr() *syscall.SysProcAttr { return nil }

// terminateProcess asks cmd's process to exit, killing it where polite
// termination is not supported.
func terminateProcess(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}

// killProcess kills cmd's process.
func killProcess(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}
