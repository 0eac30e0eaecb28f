package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestReleaseArchives checks what a release archive holds: the binary,
// README.md, LICENSE, a completion script per shell, a manual page per
// command and a CycloneDX SBOM of the binary; and that the checksums list
// every archive. It reads the archives `make release-check` built (its
// dist directory in MAILSHIFT_RELEASE_DIST) and skips without them:
// building every platform's archive takes many minutes, too long for
// `make test`.
func TestReleaseArchives(t *testing.T) {
	dist := os.Getenv("MAILSHIFT_RELEASE_DIST")
	if dist == "" {
		t.Skip("no release archives to check: `make release-check` builds them and runs this test")
	}

	root := newRootCmd()
	var pages []string
	visit(root, func(c *cobra.Command) {
		for p := c; p != nil; p = p.Parent() {
			if p.Hidden || (p != root && !p.IsAvailableCommand()) {
				return
			}
		}
		pages = append(pages, "man/man1/"+strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
	})

	sums, err := os.ReadFile(filepath.Join(dist, "mailshift_"+snapshotVersion(t, dist)+"_checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	platforms := []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64", "windows_arm64"}
	for _, platform := range platforms {
		t.Run(platform, func(t *testing.T) {
			ext, binary := ".tar.gz", "mailshift"
			if strings.HasPrefix(platform, "windows") {
				ext, binary = ".zip", "mailshift.exe"
			}
			base := "mailshift_" + snapshotVersion(t, dist) + "_" + platform
			files := archiveFiles(t, filepath.Join(dist, base+ext))
			if !strings.Contains(string(sums), "  "+base+ext+"\n") {
				t.Errorf("%s is not in the checksums", base+ext)
			}
			want := []string{binary, "README.md", "LICENSE",
				"completions/mailshift.bash", "completions/_mailshift", "completions/mailshift.fish", "completions/mailshift.ps1",
				"sbom/mailshift_" + platform + ".cdx.json"}
			want = append(want, pages...)
			for _, name := range want {
				if _, ok := files[base+"/"+name]; !ok {
					t.Errorf("%s%s lacks %s", base, ext, name)
				}
			}
			var sbom struct {
				BOMFormat  string `json:"bomFormat"`
				Components []struct {
					Name string `json:"name"`
				} `json:"components"`
			}
			if err := json.Unmarshal(files[base+"/sbom/mailshift_"+platform+".cdx.json"], &sbom); err != nil {
				t.Fatalf("SBOM: %v", err)
			}
			if sbom.BOMFormat != "CycloneDX" || !slices.ContainsFunc(sbom.Components, func(c struct {
				Name string `json:"name"`
			}) bool {
				return c.Name == "github.com/spf13/cobra"
			}) {
				t.Errorf("SBOM: format %q, %d components, cobra not among them", sbom.BOMFormat, len(sbom.Components))
			}
			if !bytes.HasPrefix(files[base+"/man/man1/mailshift-bulk.1"], []byte(".nh\n.TH ")) {
				t.Errorf("mailshift-bulk.1 is not a man page")
			}
		})
	}
}

// snapshotVersion is the version in the dist directory's file names,
// read from goreleaser's metadata.json.
func snapshotVersion(t *testing.T, dist string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Version == "" {
		t.Fatalf("%s/metadata.json: %v %s", dist, err, b)
	}
	return meta.Version
}

// archiveFiles reads a .tar.gz or .zip archive into memory: the content of
// every regular file by its name.
func archiveFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	if strings.HasSuffix(path, ".zip") {
		z, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		for _, f := range z.File {
			if f.FileInfo().IsDir() {
				continue
			}
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			files[f.Name] = b
		}
		return files
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	return files
}
