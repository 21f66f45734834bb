//go:build linux

package testdb

import (
	"os/exec"
	"syscall"
)

// procAttr puts a child in its own process group, so that signals sent to
// the test's process group (e.g. ^C) do not reach it directly and it can
// be signalled as a group, and makes the kernel kill it if the thread that
// started it (and thus normally the test process) dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminateProcess sends SIGTERM to cmd's process group.
func terminateProcess(cmd *exec.Cmd) error { return signalGroup(cmd, syscall.SIGTERM) }

// killProcess sends SIGKILL to cmd's process group.
func killProcess(cmd *exec.Cmd) error { return signalGroup(cmd, syscall.SIGKILL) }

// signalGroup sends sig to the process group led by cmd's process, falling
// back to the process itself.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err == nil {
		return nil
	}
	return cmd.Process.Signal(sig)
}
