package endpoint

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/oauth"
	"github.com/mailshift/mailshift/internal/users"
)

// TestGoogleServiceAccountLogin: with target.oauth provider google, every
// user logs in with XOAUTH2 and a token delegated to that user by the
// service account (the fake token endpoint issues one per subject).
func TestGoogleServiceAccountLogin(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	var (
		mu       sync.Mutex
		subjects []string
	)
	te := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		parts := strings.Split(r.PostForm.Get("assertion"), ".")
		var claims map[string]any
		if len(parts) == 3 {
			b, _ := jwtPart(parts[1])
			json.Unmarshal(b, &claims)
		}
		sub, _ := claims["sub"].(string)
		mu.Lock()
		subjects = append(subjects, sub)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%s-1","token_type":"Bearer","expires_in":3600}`, sub)
	}))
	defer te.Close()
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "m@p.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "token_uri": te.URL})
	file := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(file, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := memserver.StartTokenServer(func(user, token string) bool { return token == "tok-"+user+"-1" }, "XOAUTH2")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := Pair{Source: Settings{URL: "maildir:/nonexistent/%u"}, Target: Settings{URL: "imap://" + srv.Addr + "?tls=none",
		OAuth: oauth.Config{Provider: "google", ServiceAccount: "file:" + file}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann@example.com", "ben@example.com"} {
		if err := srv.AddUser(u); err != nil {
			t.Fatal(err)
		}
		dst, err := p.OpenTarget(context.Background(), users.Row{SourceUser: u, TargetUser: u})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		dst.Close()
	}
	if strings.Join(subjects, ",") != "ann@example.com,ben@example.com" {
		t.Errorf("token requests for %v, want one per user", subjects)
	}
}

var base64RawURL = base64.RawURLEncoding

func jwtPart(s string) ([]byte, error) {
	return base64RawURL.DecodeString(s)
}
