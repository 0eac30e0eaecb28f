package rtf

import (
	"strings"
	"testing"
)

// outlookHTML is an HTML message as Outlook encapsulates it in RTF: a
// Cyrillic code page, fonts with their own character sets, a style block
// with escaped braces, RTF-only renderings of paragraphs, links and
// bullets between \htmlrtf and \htmlrtf0, an image by content ID, entities
// kept in \htmltag groups, and \uN characters with their fallbacks.
const outlookHTML = `{\rtf1\ANSI\ansicpg1251\fromhtml1 \deff0{\fonttbl
{\f0\fswiss\fcharset204 Arial;}
{\f1\fmodern Courier New;}
{\f2\fnil\fcharset2 Symbol;}
{\f3\fmodern\fcharset0 Courier New;}
{\f4\fswiss\fcharset238 Arial CE;}}
{\colortbl\red0\green0\blue0;\red0\green0\blue255;}
\uc1\pard\plain\deftab360 \f0\fs24 
{\*\htmltag19 <html>}
{\*\htmltag34 <head>}
{\*\htmltag161 <meta http-equiv="Content-Type" content="text/html; charset=windows-1251">}
{\*\htmltag241 <style>}
{\*\htmltag241 <!--\par p.MsoNormal \{margin:0cm; font-family:"Calibri"\}\par -->}
{\*\htmltag249 </style>}
{\*\htmltag41 </head>}
{\*\htmltag50 <body lang=RU link=blue>}\htmlrtf \lang1049 \htmlrtf0 
{\*\htmltag96 <div class=WordSection1>}\htmlrtf {\htmlrtf0 
{\*\htmltag64 <p class=MsoNormal>}\htmlrtf {\htmlrtf0 \'cf\'f0\'e8\'e2\'e5\'f2, \f4 \'9akoda\f0 {\*\htmltag84 &nbsp;}\htmlrtf \'a0\htmlrtf0 \u8364\'88 5 \u-10179?\u-8704?
{\*\htmltag84 <a href="http://example.com/?a=1&amp;b=2">}\htmlrtf {\field{\*\fldinst{HYPERLINK "http://example.com/?a=1&b=2"}}{\fldrslt\cf1\ul \htmlrtf0 example\htmlrtf }\htmlrtf0 \htmlrtf }\htmlrtf0 
{\*\htmltag92 </a>}
{\*\htmltag244 <o:p>}
{\*\htmltag252 </o:p>}\htmlrtf\par}\htmlrtf0
\htmlrtf \par
\htmlrtf0 
{\*\htmltag72 </p>}
{\*\htmltag64 <ul>}{\*\htmltag64 <li>}\htmlrtf {{\*\pn\pnlvlblt\pnf2\pnindent360{\pntxtb\'b7}}\li720\fi-360{\pntext\f2\'b7\tab}\htmlrtf0 one\htmlrtf\par}\htmlrtf0 {\*\htmltag72 </li>}{\*\htmltag72 </ul>}
{\*\htmltag84 <img src="cid:image001.png@01D9A1B2.C3D4E5F0" alt="a \{b\} c\\d">}\htmlrtf {\pict\wmetafile8\picw10\pich10 0102030405}\htmlrtf0 
{\*\htmltag64 <pre>}\htmlrtf {\f3 \htmlrtf0 if (a {\*\htmltag84 &lt;}\htmlrtf <\htmlrtf0  b) \{\tab x\}\line next\htmlrtf }\htmlrtf0 {\*\htmltag72 </pre>}
{\*\mhtmltag84 <img src="http://rewritten.example/image001.png">}
{\*\htmltag104 </div>}\htmlrtf }\htmlrtf0 
{\*\htmltag58 </body>}
{\*\htmltag27 </html>}}` + "\x00\x00"

const outlookHTMLWant = `<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><style><!--` + "\r\n" +
	`p.MsoNormal {margin:0cm; font-family:"Calibri"}` + "\r\n" +
	`--></style></head><body lang=RU link=blue><div class=WordSection1><p class=MsoNormal>Привет, škoda&nbsp;€ 5 😀` +
	`<a href="http://example.com/?a=1&amp;b=2">example</a><o:p></o:p></p><ul><li>one</li></ul>` +
	`<img src="cid:image001.png@01D9A1B2.C3D4E5F0" alt="a {b} c\d"><pre>if (a &lt; b) {` + "\tx}\r\nnext</pre></div></body></html>"

func TestHTML(t *testing.T) {
	got, ok := HTML([]byte(outlookHTML))
	if !ok {
		t.Fatal("not recognised as encapsulated HTML")
	}
	if got != outlookHTMLWant {
		t.Errorf("HTML:\n got %q\nwant %q", got, outlookHTMLWant)
	}
}

func TestHTMLNotEncapsulated(t *testing.T) {
	for _, in := range []string{
		"",
		"not rtf at all",
		`{\rtf1\ansi\deff0 {\fonttbl{\f0 Arial;}}\pard Hello\par}`,
		`{\rtf1\ansi\fromtext \deff0 Hello\par}`,
		`{\rtf1\ansi {\fromhtml1} {\*\htmltag19 <p>}x}`, // \fromhtml not in the header
		`{\rtf1\ansi\fromhtml1 {\*\htmltag64}}`,         // nothing in it
	} {
		if html, ok := HTML([]byte(in)); ok {
			t.Errorf("HTML(%q) = %q, true", in, html)
		}
	}
}

func TestHTMLCodePages(t *testing.T) {
	cases := []struct{ name, rtf, want string }{
		{"default code page in tags", `{\rtf1\ansi\ansicpg1252\fromhtml1 {\fonttbl{\f0\fcharset204 Arial;}}\f0 {\*\htmltag84 <p title="caf\'e9">}\'e0\htmlrtf x\htmlrtf0 }`, `<p title="café">а`},
		{"shift-jis pairs", `{\rtf1\ansi\ansicpg932\fromhtml1 {\*\htmltag64 <p>}\'93\'fa\'96\'7b\'8c\'ea}`, `<p>日本語`},
		{"shift-jis trail byte as text", `{\rtf1\ansi\ansicpg932\fromhtml1 {\*\htmltag64 <p>}\'83N}`, `<p>ク`},
		{"uc0", `{\rtf1\ansi\fromhtml1 \uc0 {\*\htmltag64 <p>}\u948 x}`, `<p>δx`},
		{"uc2 in a group", `{\rtf1\ansi\fromhtml1 {\*\htmltag64 <p>}{\uc2\u948\'81\'82y}\u949?z}`, `<p>δyεz`},
		{"lone surrogate", `{\rtf1\ansi\fromhtml1 {\*\htmltag64 <p>}\u-10179?x}`, "<p>\uFFFDx"},
		{"unknown code page", `{\rtf1\ansi\ansicpg99999\fromhtml1 {\*\htmltag64 <p>}\'e9}`, `<p>é`},
		{"utf-8 code page", `{\rtf1\ansi\ansicpg65001\fromhtml1 {\*\htmltag64 <p>}\'c3\'a9}`, `<p>é`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := HTML([]byte(c.rtf))
			if !ok || got != c.want {
				t.Errorf("got %q, %v; want %q", got, ok, c.want)
			}
		})
	}
}

// wordRTF is a document as Word and WordPad write it.
const wordRTF = `{\rtf1\adeflang1025\ansi\ansicpg1252\uc1\deff0\nouicompat\deflang1033{\fonttbl{\f0\fnil\fcharset0 Calibri;}{\f1\fnil\fcharset2 Symbol;}{\f2\fswiss\fcharset204{\*\panose 020b0604020202020204}Arial Cyr;}{\f3\fnil\fcharset128 MS Mincho;}}
{\colortbl ;\red255\green0\blue0;\red0\green0\blue255;}
{\stylesheet{\ql \li0\ri0 \f0\fs22 Normal;}{\*\cs10 Default Paragraph Font;}}
{\info{\title A title}{\author Someone}{\creatim\yr2024\mo1\dy2}}
{\*\generator Riched20 10.0.19041}{\*\rsidtbl \rsid123}\viewkind4\uc1
\pard\sa200\sl276\slmult1\f0\fs22\lang9 Hello \b world\b0 ! It\rquote s \ldblquote quoted\rdblquote  \endash  ok \emdash  yes.\par
{\pntext\f1\'b7\tab}{\*\pn\pnlvlblt\pnf1\pnindent0{\pntxtb\'b7}}\fi-360\li720 First item\par
{\pntext\f1\'b7\tab}Second item\par
\pard\f2\'cf\'f0\'e8\'e2\'e5\'f2\f0  caf\'e9 \u8364? 100 \f3\'93\'fa\'96\'7b\f0\line
{\field{\*\fldinst{HYPERLINK "http://example.com/"}}{\fldrslt{\ul\cf2 example}}}\par
\trowd\cellx1000\cellx2000 a\cell b\cell\row
{\pict\wmetafile8\picw100\pich100 0102abcdef{\*\blipuid 0011}}{\*\shppict{\pict\pngblip 89504e47}}{\nonshppict{\pict\wmetafile8 0102}}
{\header {\f0 Page header}}{\footnote\ftnalt {\f0 A footnote}}
Braces \{ \} and backslash \\ and non\~breaking and soft\-hyphen and non\_breaking.\par
{\*\unknowndest ignored text}{\object\objemb{\*\objdata 0102}{\result visible result}}
\bin5 {}{}xtail\par
}`

const wordText = "Hello world! It’s “quoted” – ok — yes.\r\n" +
	"•\tFirst item\r\n" +
	"•\tSecond item\r\n" +
	"Привет café € 100 日本\r\n" +
	"example\r\n" +
	"a\tb\t\r\n" +
	"Braces { } and backslash \\ and non\u00a0breaking and softhyphen and non\u2011breaking.\r\n" +
	"tail\r\n"

func TestText(t *testing.T) {
	if got := Text([]byte(wordRTF)); got != wordText {
		t.Errorf("Text:\n got %q\nwant %q", got, wordText)
	}
}

func TestTextOfEncapsulated(t *testing.T) {
	// Text of encapsulated HTML is what an RTF reader shows: the \htmlrtf
	// renderings are kept, the HTML tags are not.
	got := Text([]byte(outlookHTML))
	for _, want := range []string{"Привет, škoda\u00a0€ 5 😀example\r\n", "•\tone\r\n", "if (a < b) {\tx}\r\nnext"} {
		if !strings.Contains(got, want) {
			t.Errorf("Text lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "<") && !strings.Contains(got, "a < b") || strings.Contains(got, "MsoNormal") {
		t.Errorf("Text has HTML: %q", got)
	}
	// Text encapsulated with \fromtext drops what \htmlrtf marks RTF-only.
	fromText := `{\rtf1\ansi\ansicpg1252\fromtext \fbidis \deff0{\fonttbl{\f0\fswiss Arial;}}
\uc1\pard\plain\deftab360 \f0\fs20 Line one\par
\htmlrtf {\b \htmlrtf0 Line two\htmlrtf }\htmlrtf0 \par
\htmlrtf RTF only\htmlrtf0 Line three\par
}`
	if got, want := Text([]byte(fromText)), "Line one\r\nLine two\r\nLine three\r\n"; got != want {
		t.Errorf("fromtext: got %q, want %q", got, want)
	}
}

func TestTextOdd(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain words", ""},
		{"\xef\xbb\xbf {\\rtf1 bom}", "bom"},
		{`{\rtf1 unclosed {\b group`, "unclosed group"},
		{`{\rtf1 a}}} after`, "a"},
		{`{\rtf1 \'zz\'4`, "zz4"}, // a broken escape is dropped
		{`{\rtf1 \u}`, ""},
		{`{\rtf1 \u-1? \u70000 x}`, "\uffff " + string(rune(70000))}, // x is the fallback
		{`{\rtf1 \bin99999999 abc}`, ""},
		{`{\rtf1 \uc99 \u65 abc}`, "A"},
		{`{\rtf1 \ucword99999999999999999999 x}`, "x"},
		{`{\rtf1 ` + strings.Repeat("{", 2000) + "deep" + strings.Repeat("}", 2000) + " end}", "deep end"},
	}
	for _, c := range cases {
		if got := Text([]byte(c.in)); got != c.want {
			t.Errorf("Text(%.60q) = %q, want %q", c.in, got, c.want)
		}
	}
}
