package imapconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// Classify marks err with the kind of failure it is (see the Err* kinds
// of internal/mailbox), so that callers decide what to retry without
// knowing IMAP:
//
//   - a dropped, stalled or refused connection, EOF, a timeout, BYE, NO
//     [SERVERBUG]: mailbox.ErrTransient;
//   - NO [UNAVAILABLE], [INUSE], a [LIMIT] that is not about a message's
//     size, and answers that say the server throttles ("throttl", "too
//     many", "try again later"): mailbox.ErrBusy, with the delay the
//     server suggests attached when it names one (mailbox.RetryAfter);
//   - NO [NONEXISTENT], [TRYCREATE]: mailbox.ErrFolderGone;
//   - any other NO or BAD: mailbox.ErrRefused;
//     except Gmail's NO [THROTTLED] (mailbox.ErrBusy) and NO [OVERQUOTA]
//     about the account's command or bandwidth limits
//     (mailbox.ErrAccountLimit);
//   - an answer go-imap could not parse (its reader then closes the
//     connection): mailbox.ErrProtocol;
//   - a host name that does not resolve, a server certificate that is not
//     trusted, TLS to a port that does not speak it: mailbox.ErrConfig.
//
// An error already classified, a cancelled context, and anything else are
// returned as they are (an unclassified error counts as transient). The
// text of err is never changed.
func Classify(err error) error {
	if err == nil || classified(err) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the caller's own interruption
	}
	if kind := kindOf(err); kind != nil {
		err = mailbox.Mark(kind, err)
		var ie *imap.Error
		if errors.As(err, &ie) && kind == mailbox.ErrBusy {
			if d, ok := SuggestedBackoff(ie.Text); ok {
				err = mailbox.WithRetryAfter(err, d)
			}
		}
		return err
	}
	return err
}

// suggestedBackoff matches Exchange's throttling answer, "Request is
// throttled. Suggested Backoff Time: 299961 milliseconds" (imapsync
// FAQ.d/FAQ.Office365.txt and FAQ.Exchange.txt).
var suggestedBackoff = regexp.MustCompile(`(?i)suggested\s+backoff\s+time:\s*(\d+)\s*(milliseconds|ms)`)

// SuggestedBackoff returns the delay a throttling answer asks the client
// to wait before it tries again, if the text names one.
func SuggestedBackoff(text string) (time.Duration, bool) {
	m := suggestedBackoff.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n < 0 || n > int64(24*time.Hour/time.Millisecond) {
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

// classified reports whether err carries a kind already.
func classified(err error) bool {
	for _, k := range []error{mailbox.ErrTransient, mailbox.ErrBusy, mailbox.ErrAccountLimit, mailbox.ErrRefused, mailbox.ErrProtocol,
		mailbox.ErrAuth, mailbox.ErrConfig, mailbox.ErrFolderGone} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func kindOf(err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return statusKind(ie)
	}
	var (
		dns      *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return mailbox.ErrConfig // a misspelt host name, not a passing failure
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return mailbox.ErrConfig
	case errors.As(err, &record):
		return mailbox.ErrConfig // TLS to a port that does not speak it
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return mailbox.ErrTransient
	}
	// go-imap flattens what its reader met into text ("in response-data:
	// ..." with %v), be it a broken connection or an answer it could not
	// parse: tell them apart by the words.
	text := strings.ToLower(err.Error())
	if strings.Contains(text, "imapwire:") {
		return mailbox.ErrProtocol
	}
	for _, s := range []string{"eof", "connection reset", "broken pipe", "use of closed network connection",
		"i/o timeout", "connection refused", "connection closed", "connection lost", "timed out"} {
		if strings.Contains(text, s) {
			return mailbox.ErrTransient
		}
	}
	for _, s := range []string{"unsupported response type", "unknown tag", "panic reading response",
		"unmatched continuation", "unsupported msg-att", "dynamic number set", "expected ", "key without value",
		"in response", "in resp-"} {
		if strings.Contains(text, s) {
			return mailbox.ErrProtocol
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return mailbox.ErrTransient
	}
	return nil
}

// statusKind classifies a server's NO, BAD or BYE.
func statusKind(ie *imap.Error) error {
	if ie.Type == imap.StatusResponseTypeBye {
		return mailbox.ErrTransient
	}
	switch ie.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse:
		return mailbox.ErrBusy
	case imap.ResponseCodeLimit:
		// Dovecot says [LIMIT] for a message over its size limit; other
		// servers say it when a client sends too much too fast.
		if !SizeRefusal(ie.Text) {
			return mailbox.ErrBusy
		}
		return mailbox.ErrRefused
	case imap.ResponseCodeServerBug:
		return mailbox.ErrTransient
	case "THROTTLED":
		return mailbox.ErrBusy
	case imap.ResponseCodeOverQuota:
		// Gmail answers a FETCH with "NO [OVERQUOTA] Account exceeded
		// command or bandwidth limits." once the account's daily IMAP
		// limits are spent (ljmerza/ha-email-sensor#16; the limits:
		// https://support.google.com/a/answer/1071518). That is the
		// account's allowance, not a full mailbox (RFC 5530's OVERQUOTA,
		// an APPEND over quota).
		if AccountLimit(ie.Text) {
			return mailbox.ErrAccountLimit
		}
	case imap.ResponseCodeNonExistent, imap.ResponseCodeTryCreate:
		return mailbox.ErrFolderGone
	}
	if Throttled(ie.Text) {
		return mailbox.ErrBusy
	}
	return mailbox.ErrRefused
}

// Throttled tells whether a server's text asks the client to slow down
// ("throttled", "too many connections", "try again later"; Exchange says
// "Request is throttled").
func Throttled(text string) bool {
	t := strings.ToLower(text)
	for _, s := range []string{"throttl", "too many", "try again later", "rate limit"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// AccountLimit tells whether a server's text says the account's
// allowance of commands or bandwidth is spent (Gmail: "Account exceeded
// command or bandwidth limits").
func AccountLimit(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "bandwidth limit") || strings.Contains(t, "command or bandwidth")
}

// SizeRefusal tells whether a server's text refuses a message for its size.
func SizeRefusal(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "size") || strings.Contains(t, "too large") || strings.Contains(t, "too big")
}
