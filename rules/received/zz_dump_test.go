package received

import (
	"bufio"
	"fmt"
	"os"
	"testing"
)

func TestDump(t *testing.T) {
	f, _ := os.Open(os.Getenv("DUMP"))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		h := Parse(sc.Text())
		fmt.Printf("%s\n   helo=%q rdns=%q ip=%v by=%q with=%q id=%q for=%q date=%v/%v auth=%v\n", h.Raw, h.Helo, h.RDNS, h.IP, h.By, h.With, h.ID, h.For, h.Date, h.HasDate, h.Authenticated)
	}
}
