package dovecot

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

func TestScratchFail(t *testing.T) {
	s := Start(t, Options{Master: true})
	s.AddUser("alice", "secret")
	for _, u := range []string{"alice", "alice*admin", "nobody", "alice", "alice"} {
		c, _ := imapclient.DialInsecure(s.Addr, nil)
		t0 := time.Now()
		err := c.Login(u, "wrong").Wait()
		t.Log(u, time.Since(t0), err)
		c.Close()
	}
}
