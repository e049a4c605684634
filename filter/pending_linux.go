package filter

import (
	"net"
	"syscall"
	"unsafe"
)

// pending says whether bytes from the peer wait in the socket's receive
// queue (ioctl FIONREAD, which Linux calls TIOCINQ/SIOCINQ; TCP and unix
// stream sockets). Such a connection is about to make progress: its
// session goroutine has not been scheduled yet.
func pending(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int32
	var errno syscall.Errno
	if rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}) != nil || errno != 0 {
		return false
	}
	return n > 0
}
