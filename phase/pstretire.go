package phase

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// retireHook, when set (tests), runs after a user's cutover is recorded
// as verified and before the user's files are retired.
var retireHook func(user string)

// markerSuffix is added to a file's path for its marker.
const markerSuffix = ".migrated"

// retirePST retires r's PST files as pst.retire says, once r's cutover has
// verified them. Each file's intent is recorded before it is moved or
// marked and its outcome after, so that a run killed at any point leaves
// the file in place or retired, and the next cutover finishes the job.
func (p *Project) retirePST(r users.Row) error {
	how, dir := p.Config.PST.retire()
	if _, ok := p.scanner(); !ok || how == "" {
		return nil
	}
	cs, err := p.Store.Cutovers()
	if err != nil {
		return err
	}
	verified := false
	for _, c := range cs {
		verified = verified || c.User == r.SourceUser && c.Verified
	}
	if !verified {
		return nil // nothing is retired before the cutover verified it
	}
	if retireHook != nil {
		retireHook(r.SourceUser)
	}
	files, err := p.Store.PSTFilesOf(r.SourceUser)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if f.RetireState == state.RetireDone {
			continue
		}
		if err := p.retireFile(f, how, p.path(dir)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retireFile moves or marks one file, recording the intent first.
func (p *Project) retireFile(f state.PSTFile, how, dir string) error {
	to := f.Path + markerSuffix
	if how == "move" {
		to = filepath.Join(dir, retiredName(f.Path))
	}
	if f.RetireState == "" || f.RetiredTo != to {
		if err := p.Store.SetPSTRetire(f.Path, state.RetireRetiring, how, to, p.now()); err != nil {
			return err
		}
	}
	switch how {
	case "move":
		if err := moveFile(f.Path, to); err != nil {
			return fmt.Errorf("retire PST file %s: %w; it stays in place, and the next `mailshift cutover --yes` tries again", f.Path, err)
		}
	case "marker":
		text := fmt.Sprintf("%s was migrated to the mailbox of %s by mailshift on %s.\n", filepath.Base(f.Path), f.Owner, p.now().UTC().Format("2006-01-02 15:04 MST"))
		if err := writeFileAtomic(to, []byte(text)); err != nil {
			return fmt.Errorf("retire PST file %s: write the marker: %w; the next `mailshift cutover --yes` tries again", f.Path, err)
		}
	}
	return p.Store.SetPSTRetire(f.Path, state.RetireDone, how, to, p.now())
}

// retiredName is the name a moved file gets in the done folder: its path
// with the separators replaced, so that files of the same name from
// different places do not meet.
func retiredName(path string) string {
	clean := strings.TrimLeft(filepath.ToSlash(filepath.Clean(path)), "/")
	return strings.ReplaceAll(clean, "/", "__")
}

// moveFile moves from to to: a rename, or a copy and remove across
// filesystems. A file already moved (from gone, to there) is done.
func moveFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(to); err == nil {
			return nil // moved before a crash recorded it
		}
		return fmt.Errorf("%s is gone and %s is not there", from, to)
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("%s exists already; remove or rename it", to)
	}
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	tmp := to + ".part"
	if err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, to); err != nil {
		return err
	}
	return os.Remove(from)
}

// copyFile copies from to to, streaming, and syncs it.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeFileAtomic writes data to path through a temporary file, synced,
// so that path holds all of it or does not change.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writePSTReport writes reports/pst-files.csv for every user.
func (p *Project) writePSTReport() error {
	if _, ok := p.scanner(); !ok {
		return nil
	}
	reps, err := p.pstFileReports(p.Users)
	if err != nil {
		return err
	}
	text, err := renderPSTFilesCSV(reps)
	if err != nil {
		return err
	}
	_, err = p.writeReport("pst-files.csv", text)
	return err
}
