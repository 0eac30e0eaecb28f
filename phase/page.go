package phase

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown turns the Markdown documents (the scope of work) into HTML,
// tables included. Raw HTML in them is left out, never passed through:
// names of folders and users come from the servers.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table))

// pageTemplate is a self-contained, printable HTML page around a
// document: inline CSS with a print stylesheet, nothing fetched.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; color: #222; max-width: 62em; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; width: 100%; font-size: .9em; margin: .6em 0; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f4f4f4; }
code { background: #f4f4f4; padding: 0 .2em; border-radius: 3px; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  h2, h3 { break-after: avoid; }
  tr { break-inside: avoid; }
}
</style>
</head>
<body>
{{.Body}}
</body>
</html>
`))

// markdownPage renders a Markdown document as a self-contained HTML page.
func markdownPage(title, md string) string {
	var out bytes.Buffer
	_ = pageTemplate.Execute(&out, struct {
		Title string
		Body  template.HTML
	}{title, markdownHTML(md)})
	return out.String()
}

// markdownHTML is a Markdown document as HTML, raw HTML in it left out.
func markdownHTML(md string) template.HTML {
	var body bytes.Buffer
	if err := markdown.Convert([]byte(md), &body); err != nil {
		// Convert writes to memory and does not fail on any input; keep
		// the text readable if it ever does.
		return template.HTML("<pre>" + template.HTMLEscapeString(md) + "</pre>")
	}
	return template.HTML(body.String())
}
