package emulators

import "syscall"

func processGroupAttr() *syscall.SysProcAttr {
	// Pdeathsig stops an emulator whose parent dies without calling Close,
	// such as a test binary killed by its timeout.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pid int, sig syscall.Signal) {
	syscall.Kill(-pid, sig)
}
