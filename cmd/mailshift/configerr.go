package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"github.com/mailshift/mailshift/internal/endpoint"
	"github.com/mailshift/mailshift/phase"
)

// placedError is a configuration mistake with where it was made: the
// configuration file and line, or the MAILSHIFT_* variable that set the
// key. It unwraps to the mistake itself (a *phase.ConfigError or an
// *endpoint.KeyError), so that it exits 2.
type placedError struct {
	where string // "mailshift.yaml:7" or "environment variable MAILSHIFT_COPY_WORKERS"
	err   error
}

func (e *placedError) Error() string { return e.where + ": " + e.err.Error() }
func (e *placedError) Unwrap() error { return e.err }

// configSource knows where each key of a configuration came from.
type configSource struct {
	file string     // the configuration file read, "" if none
	root *yaml.Node // its document, nil if none or unreadable
}

func newConfigSource(file string) configSource {
	cs := configSource{file: file}
	if file == "" {
		return cs
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return cs
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) > 0 {
		cs.root = doc.Content[0]
	}
	return cs
}

// envName is the MAILSHIFT_* variable of a key ("copy.workers" →
// MAILSHIFT_COPY_WORKERS).
func envName(key string) string {
	return "MAILSHIFT_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// baseKey strips an index from a key: "folders.exclude[2]" → "folders.exclude".
func baseKey(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		return key[:i]
	}
	return key
}

// line is the line of key in the file (matched case-insensitively, as
// viper reads keys), 0 if the file does not set it.
func (cs configSource) line(key string) int {
	n := cs.root
	if n == nil {
		return 0
	}
	line := 0
	for _, part := range strings.Split(baseKey(key), ".") {
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.EqualFold(n.Content[i].Value, part) {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return line
}

// place says where key was set: the environment wins over the file, as it
// does when the configuration is loaded. err is returned as it is when
// neither set it (a default, or a flag).
func (cs configSource) place(key string, err error) error {
	if key == "" || strings.HasPrefix(key, "-") {
		return err
	}
	if _, ok := os.LookupEnv(envName(baseKey(key))); ok {
		return &placedError{where: "environment variable " + envName(baseKey(key)), err: err}
	}
	if l := cs.line(key); l > 0 {
		return &placedError{where: fmt.Sprintf("%s:%d", cs.file, l), err: err}
	}
	if cs.file != "" && !strings.HasPrefix(key, "users.") {
		return &placedError{where: cs.file, err: err}
	}
	return err
}

// placeErr places a configuration mistake by the key it names; other
// errors are returned unchanged.
func (cs configSource) placeErr(err error) error {
	var cfgErr *phase.ConfigError
	var keyErr *endpoint.KeyError
	switch {
	case errors.As(err, &keyErr):
		return cs.place(keyErr.Key, err)
	case errors.As(err, &cfgErr):
		return cs.place(cfgErr.Key, err)
	}
	return err
}

// unknownKey is the error for a key the configuration does not have, with
// the nearest known key when it looks misspelt.
func (cs configSource) unknownKey(key string, known map[string]any) error {
	msg := "unknown key"
	if s := nearest(key, known); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	} else {
		msg += "; see `mailshift init` for the keys there are"
	}
	return cs.place(key, &phase.ConfigError{Key: key, Msg: msg})
}

// nearest returns the known key closest to key, "" if none is close
// enough to be a slip of the fingers.
func nearest(key string, known map[string]any) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	slices.Sort(names)
	best, bestD := "", 0
	for _, k := range names {
		d := editDistance(key, k)
		if best == "" || d < bestD {
			best, bestD = k, d
		}
	}
	// Allow one slip for every four letters, at least one, at most three.
	if best == "" || bestD > min(3, max(1, len(key)/4)) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counting a
// swap of two neighbouring letters as one slip.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// decodeError turns the decoder's error into one mistake a person can act
// on: the key, what it holds and what it should hold, placed in the file
// or the environment, without the decoder's own wording.
func (cs configSource) decodeError(err error) error {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return &phase.ConfigError{Key: cs.file, Msg: "cannot read the configuration: " + firstLine(err.Error())}
	}
	key := de.Name()
	inner := de.Unwrap()
	var msg string
	var conv *mapstructure.UnconvertibleTypeError
	var parse *mapstructure.ParseError
	switch {
	case errors.As(inner, &conv):
		msg = fmt.Sprintf("%s: must be %s", describeValue(conv.Value), describeType(conv.Expected.Type()))
	case errors.As(inner, &parse):
		msg = fmt.Sprintf("%s: must be %s", describeValue(parse.Value), describeType(parse.Expected.Type()))
	default:
		msg = firstLine(inner.Error())
	}
	return cs.place(key, &phase.ConfigError{Key: key, Msg: msg})
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// describeValue shows a value from the configuration as it was written.
func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case map[string]any:
		return "a section"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	}
	return fmt.Sprint(v)
}

// describeType names a configuration type for a person.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Slice:
		return "a list, e.g. [a, b]"
	case reflect.Map, reflect.Struct:
		return "a section of keys"
	}
	return t.String()
}
