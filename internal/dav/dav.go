// Package dav is a small WebDAV client for CardDAV (RFC 6352) and CalDAV
// (RFC 4791) collections: it makes a collection when it is missing and
// puts, reads and lists the resources in it. Putting is conditional
// (If-None-Match: * to create, If-Match to replace), so that an upload
// run again never makes a second copy.
package dav

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// Client reaches one collection.
type Client struct {
	// URL is the collection's URL, e.g.
	// "https://dav.example.org/alice/contacts/".
	URL      string
	User     string
	Password string // sent only in the Authorization header, never shown
	HTTP     *http.Client
}

// NewHTTPClient is an HTTP client for a server: timeout bounds each
// request; caFile (PEM) adds certificates to trust besides the system's;
// insecure skips the certificate check (tests only).
func NewHTTPClient(timeout time.Duration, caFile string, insecure bool) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // the insecure_skip_verify key, tests only
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// Plaintext tells whether a collection URL would send the password
// unencrypted to another machine: http:// to a host other than this one.
func Plaintext(rawURL string) bool {
	u, err := url.Parse(strings.ReplaceAll(rawURL, "%u", "user")) // a template's %u is no escape
	if err != nil {
		return true // cannot tell: assume the worst
	}
	if u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return false
	}
	ip := net.ParseIP(h)
	return ip == nil || !ip.IsLoopback()
}

// Kinds of collection.
const (
	AddressBook = "addressbook"
	Calendar    = "calendar"
)

// ErrExists is returned by Put when the resource is already there.
var ErrExists = errors.New("resource exists")

// ErrChanged is what Put says when the resource no longer has the ETag
// it was given: changed or deleted on the server since.
var ErrChanged = errors.New("changed or deleted on the server since it was uploaded: left as it is (delete it there to have the item uploaded again)")

// Error is a status the server answered with.
type Error struct {
	Method, URL string
	Status      int
	Body        string
}

// Is makes errors.Is(err, ErrChanged) hold for a refused If-Match.
func (e *Error) Is(target error) bool {
	return target == ErrChanged && e.Method == http.MethodPut && e.Status == http.StatusPreconditionFailed
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if b := strings.TrimSpace(e.Body); b != "" {
		if len(b) > 200 {
			b = b[:200] + "..."
		}
		msg += ": " + b
	}
	return msg
}

// Unwrap classifies the status as the model's error kinds: a refused
// login, a busy or failing server (transient), or a refused resource.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return mailbox.ErrAuth
	case e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable:
		return mailbox.ErrBusy
	case e.Status >= 500:
		return mailbox.ErrTransient
	}
	return mailbox.ErrRefused
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// resolve is the URL of the resource name in the collection.
func (c *Client) resolve(name string) string {
	base := c.URL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + url.PathEscape(name)
}

func (c *Client) do(ctx context.Context, method, u string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if c.User != "" || c.Password != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%s %s: %w: %v", method, u, mailbox.ErrTransient, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w: %v", method, u, mailbox.ErrTransient, err)
	}
	return resp, b, nil
}

// Ensure makes the collection, of kind AddressBook or Calendar, unless it
// exists.
func (c *Client) Ensure(ctx context.Context, kind string) error {
	resp, body, err := c.do(ctx, "PROPFIND", c.URL, []byte(`<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>`),
		map[string]string{"Depth": "0", "Content-Type": "application/xml; charset=utf-8"})
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusMultiStatus:
		return nil
	case resp.StatusCode != http.StatusNotFound:
		return &Error{"PROPFIND", c.URL, resp.StatusCode, string(body)}
	}
	method, req := "MKCOL", `<?xml version="1.0"?><mkcol xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><set><prop><resourcetype><collection/><C:addressbook/></resourcetype></prop></set></mkcol>`
	if kind == Calendar {
		method, req = "MKCALENDAR", `<?xml version="1.0"?><C:mkcalendar xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><set><prop><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/><C:comp name="VJOURNAL"/></C:supported-calendar-component-set></prop></set></C:mkcalendar>`
	}
	resp, body, err = c.do(ctx, method, c.URL, []byte(req), map[string]string{"Content-Type": "application/xml; charset=utf-8"})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return &Error{method, c.URL, resp.StatusCode, string(body)}
	}
	return nil
}

// Put stores data as the resource name: only if it does not exist yet
// when etag is "" (ErrExists if it does), else only if it still has that
// ETag. It returns the resource's href (its path) and its new ETag, ""
// when the server does not say.
func (c *Client) Put(ctx context.Context, name, contentType string, data []byte, etag string) (href, newTag string, err error) {
	u := c.resolve(name)
	hdr := map[string]string{"Content-Type": contentType}
	if etag == "" {
		hdr["If-None-Match"] = "*"
	} else {
		hdr["If-Match"] = etag
	}
	resp, body, err := c.do(ctx, http.MethodPut, u, data, hdr)
	if err != nil {
		return "", "", err
	}
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusNoContent, http.StatusOK:
	case http.StatusPreconditionFailed:
		if etag == "" {
			return hrefOf(u), "", ErrExists
		}
		return "", "", &Error{http.MethodPut, u, resp.StatusCode, ErrChanged.Error()}
	default:
		return "", "", &Error{http.MethodPut, u, resp.StatusCode, string(body)}
	}
	return hrefOf(u), resp.Header.Get("ETag"), nil
}

func hrefOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.EscapedPath()
	}
	return u
}

// Delete removes the resource name if it still has etag (any ETag when
// etag is ""); one already gone is no error. A resource changed since
// gives ErrChanged and stays.
func (c *Client) Delete(ctx context.Context, name, etag string) error {
	u := c.resolve(name)
	hdr := map[string]string{}
	if etag != "" {
		hdr["If-Match"] = etag
	}
	resp, body, err := c.do(ctx, http.MethodDelete, u, nil, hdr)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent, http.StatusNotFound:
		return nil
	case http.StatusPreconditionFailed:
		return fmt.Errorf("DELETE %s: %w", u, ErrChanged)
	}
	return &Error{http.MethodDelete, u, resp.StatusCode, string(body)}
}

// IsNotFound tells whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Get reads the resource name: its bytes and ETag.
func (c *Client) Get(ctx context.Context, name string) (data []byte, etag string, err error) {
	u := c.resolve(name)
	resp, body, err := c.do(ctx, http.MethodGet, u, nil, nil)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", &Error{http.MethodGet, u, resp.StatusCode, ""}
	}
	return body, resp.Header.Get("ETag"), nil
}

// List returns the names of the resources in the collection.
func (c *Client) List(ctx context.Context) ([]string, error) {
	resp, body, err := c.do(ctx, "PROPFIND", c.URL, []byte(`<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`),
		map[string]string{"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, &Error{"PROPFIND", c.URL, resp.StatusCode, string(body)}
	}
	var ms struct {
		Responses []struct {
			Href string `xml:"href"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal(body, &ms); err != nil {
		return nil, fmt.Errorf("PROPFIND %s: %w", c.URL, err)
	}
	self := strings.TrimSuffix(hrefOf(c.URL), "/")
	var out []string
	for _, r := range ms.Responses {
		h := strings.TrimSuffix(r.Href, "/")
		if h == self || h == "" {
			continue
		}
		n, err := url.PathUnescape(path.Base(h))
		if err != nil {
			n = path.Base(h)
		}
		out = append(out, n)
	}
	return out, nil
}
