package imapconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-sasl"
)

// SASL mechanism names of the OAuth 2.0 logins.
const (
	mechXOAuth2     = "XOAUTH2"
	mechOAuthBearer = sasl.OAuthBearer
)

// oauthClient is the client side of XOAUTH2 and OAUTHBEARER. The token
// goes in the initial response; a server that refuses it sends one
// challenge, a JSON error, which is kept for the error message and
// answered as each mechanism requires so that the server ends the exchange
// with its tagged NO.
type oauthClient struct {
	mech    string
	ir      []byte
	failure []byte // the server's JSON error, if it sent one
}

var _ sasl.Client = (*oauthClient)(nil)

// newOAuthClient prepares auth (AuthXOAuth2 or AuthOAuthBearer) for user
// with token; host and addr are the server's, for OAUTHBEARER's host and
// port fields.
func newOAuthClient(auth, user, token, host, addr string) *oauthClient {
	if auth == AuthXOAuth2 {
		// https://developers.google.com/gmail/imap/xoauth2-protocol
		return &oauthClient{mech: mechXOAuth2, ir: []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")}
	}
	port := 0
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port, _ = strconv.Atoi(p)
	}
	_, ir, _ := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token, Host: host, Port: port}).Start()
	return &oauthClient{mech: mechOAuthBearer, ir: ir}
}

func (c *oauthClient) Start() (string, []byte, error) { return c.mech, c.ir, nil }

func (c *oauthClient) Next(challenge []byte) ([]byte, error) {
	if c.failure != nil {
		return nil, errors.New("the server sent a second challenge after refusing the access token")
	}
	c.failure = append([]byte{}, challenge...)
	if len(c.failure) == 0 {
		c.failure = []byte("{}")
	}
	if c.mech == mechOAuthBearer {
		return []byte{0x01}, nil // RFC 7628, 3.2.3: the dummy response
	}
	return []byte{}, nil // XOAUTH2: an empty response
}

// oauthError is the JSON a server sends when it refuses a token (RFC 7628
// 3.2.2; Google's XOAUTH2 sends the same fields with an HTTP status).
type oauthError struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

// explain turns the server's refusal (its tagged answer, text, and the
// JSON error it may have sent before) into a message for a person.
func (c *oauthClient) explain(text string) string {
	var b strings.Builder
	b.WriteString("the access token was refused (" + c.mech + ")")
	if text != "" {
		b.WriteString(": " + text)
	}
	if c.failure != nil {
		var e oauthError
		if err := json.Unmarshal(c.failure, &e); err != nil {
			b.WriteString("; the server's error details are not JSON: " + printable(string(c.failure), 200))
		} else {
			if e.Status != "" {
				fmt.Fprintf(&b, "; status %s", printable(e.Status, 40))
				if why := statusMeaning(e.Status); why != "" {
					b.WriteString(" (" + why + ")")
				}
			}
			if e.Scope != "" {
				b.WriteString("; the server wants the scope " + printable(e.Scope, 200))
			}
		}
	}
	b.WriteString("; check that the token file or command gives a current access token for this user with that scope")
	return b.String()
}

// statusMeaning says what an OAuth error status usually means.
func statusMeaning(status string) string {
	switch strings.ToLower(status) {
	case "400", "invalid_request":
		return "the request or the token is malformed, or the token expired"
	case "401", "invalid_token":
		return "the token is invalid or expired"
	case "403", "insufficient_scope":
		return "the token is valid but lacks the scope or the mailbox permission needed"
	}
	return ""
}

// printable shortens s to n characters and drops control characters, so
// that a server's text cannot garble a terminal or a log.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "..."
	}
	return s
}
