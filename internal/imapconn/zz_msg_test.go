package imapconn

import (
	"context"
	"testing"
)

func TestZZMessages(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "pw")
	_, err := Dial(context.Background(), Options{Addr: ts.Addr, TLS: TLSStartTLS, User: "alice", Password: "pw"})
	t.Log(err)
	ts2 := startServer(t, serverConfig{tls: true})
	ts2.user(t, "alice", "pw")
	_, err = Dial(context.Background(), Options{Addr: ts2.Addr, TLS: TLSStartTLS, User: "alice", Password: "pw"})
	t.Log(err)
	_, err = Dial(context.Background(), Options{Addr: ts2.TLSAddr, TLS: TLSImplicit, User: "alice", Password: "pw"})
	t.Log(err)
	_, err = Dial(context.Background(), Options{Addr: ts2.Addr, TLS: TLSNone, User: "alice", Password: "bad"})
	t.Log(err)
	_, err = Dial(context.Background(), Options{Addr: "127.0.0.1:1", TLS: TLSNone, User: "alice", Password: "bad"})
	t.Log(err)
	_, err = Dial(context.Background(), Options{Addr: "192.0.2.1", TLS: TLSNone, User: "alice", Password: "bad"})
	t.Log(err)
}
