package pst

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// Property types ([MS-OXCDATA] section 2.11.1).
const (
	ptInt16   = 0x0002
	ptInt32   = 0x0003
	ptFloat   = 0x0004
	ptDouble  = 0x0005
	ptCurr    = 0x0006
	ptAppTime = 0x0007
	ptError   = 0x000A
	ptBool    = 0x000B
	ptObject  = 0x000D
	ptInt64   = 0x0014
	ptString8 = 0x001E
	ptUnicode = 0x001F
	ptTime    = 0x0040
	ptGUID    = 0x0048
	ptBinary  = 0x0102
	ptMulti   = 0x1000
)

// Property IDs used here ([MS-OXPROPS]).
const (
	propMessageClass         = 0x001A
	propSubject              = 0x0037
	propClientSubmitTime     = 0x0039
	propSentRepName          = 0x0042
	propSentRepAddrType      = 0x0064
	propSentRepEmail         = 0x0065
	propTransportHeaders     = 0x007D
	propRecipientType        = 0x0C15
	propSenderName           = 0x0C1A
	propSenderAddrType       = 0x0C1E
	propSenderEmail          = 0x0C1F
	propDisplayBcc           = 0x0E02
	propDisplayCc            = 0x0E03
	propDisplayTo            = 0x0E04
	propDeliveryTime         = 0x0E06
	propMessageFlags         = 0x0E07
	propMessageSize          = 0x0E08
	propAttachSize           = 0x0E20
	propRecordKey            = 0x0FF9
	propBody                 = 0x1000
	propRtfCompressed        = 0x1009
	propHTML                 = 0x1013
	propInternetMessageID    = 0x1035
	propInternetReferences   = 0x1039
	propInReplyTo            = 0x1042
	propLastVerbExecuted     = 0x1081
	propFlagStatus           = 0x1090
	propDisplayName          = 0x3001
	propAddrType             = 0x3002
	propEmailAddress         = 0x3003
	propCreationTime         = 0x3007
	propLastModTime          = 0x3008
	propIpmSubTreeEntryID    = 0x35E0
	propIpmWastebasketEntry  = 0x35E3
	propIpmSentMailEntryID   = 0x35E4
	propContentCount         = 0x3602
	propContainerClass       = 0x3613
	propIpmDraftsEntryID     = 0x36D7
	propAttachDataBinary     = 0x3701
	propAttachExtension      = 0x3703
	propAttachFilename       = 0x3704
	propAttachMethod         = 0x3705
	propAttachLongFilename   = 0x3707
	propAttachMimeTag        = 0x370E
	propAttachContentID      = 0x3712
	propAttachFlags          = 0x3714
	propSmtpAddress          = 0x39FE
	propInternetCodepage     = 0x3FDE
	propMessageCodepage      = 0x3FFD
	propAttachmentHidden     = 0x7FFE
	propPstPassword          = 0x67FF
	propSenderSmtpAddress    = 0x5D01
	propSentRepSmtpAddress   = 0x5D02
	propRecipientDisplayName = 0x5FF6
)

// tagLtpRowID is PidTagLtpRowId, the first column of every table.
const tagLtpRowID = 0x67F20003

// value is a property value as stored: its type and bytes.
type value struct {
	typ  uint16
	data []byte
}

// fixedSize is the size of a fixed-size property type, 0 for others.
func fixedSize(typ uint16) int {
	switch typ {
	case ptBool:
		return 1
	case ptInt16:
		return 2
	case ptInt32, ptFloat, ptError:
		return 4
	case ptDouble, ptCurr, ptAppTime, ptInt64, ptTime:
		return 8
	case ptGUID:
		return 16
	}
	return 0
}

// int returns an integer value, or 0.
func (v value) int() int64 {
	switch {
	case len(v.data) >= 8 && (v.typ == ptInt64 || v.typ == ptCurr):
		return int64(binary.LittleEndian.Uint64(v.data))
	case len(v.data) >= 4 && (v.typ == ptInt32 || v.typ == ptError):
		return int64(int32(binary.LittleEndian.Uint32(v.data)))
	case len(v.data) >= 2 && v.typ == ptInt16:
		return int64(int16(binary.LittleEndian.Uint16(v.data)))
	case len(v.data) >= 1 && v.typ == ptBool:
		return int64(v.data[0])
	}
	return 0
}

// time returns a PtypTime value (a FILETIME), or the zero time.
func (v value) time() time.Time {
	if v.typ != ptTime || len(v.data) < 8 {
		return time.Time{}
	}
	ft := binary.LittleEndian.Uint64(v.data)
	if ft == 0 || ft == 0x7FFFFFFFFFFFFFFF || ft >= 0x7FFFFFFFFFFFFFFF {
		return time.Time{}
	}
	// 100 ns intervals since 1601-01-01 UTC.
	const epochDelta = 116444736000000000
	d := int64(ft) - epochDelta
	return time.Unix(d/10_000_000, d%10_000_000*100).UTC()
}

// str returns a string value: UTF-16 for PtypUnicode, the code page cp
// for PtypString8, with trailing NULs removed.
func (v value) str(cp int) string {
	switch v.typ {
	case ptUnicode:
		return strings.TrimRight(utf16String(v.data), "\x00")
	case ptString8:
		return strings.TrimRight(decodeCodepage(v.data, cp), "\x00")
	case ptBinary:
		return strings.TrimRight(decodeCodepage(v.data, cp), "\x00")
	}
	return ""
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// codepageEncoding maps a Windows code page to its encoding; nil for
// UTF-8 and unknown code pages.
func codepageEncoding(cp int) encoding.Encoding {
	switch cp {
	case 1250:
		return charmap.Windows1250
	case 1251:
		return charmap.Windows1251
	case 1252, 0:
		return charmap.Windows1252
	case 1253:
		return charmap.Windows1253
	case 1254:
		return charmap.Windows1254
	case 1255:
		return charmap.Windows1255
	case 1256:
		return charmap.Windows1256
	case 1257:
		return charmap.Windows1257
	case 1258:
		return charmap.Windows1258
	case 874:
		return charmap.Windows874
	case 437:
		return charmap.CodePage437
	case 850:
		return charmap.CodePage850
	case 852:
		return charmap.CodePage852
	case 866:
		return charmap.CodePage866
	case 20866:
		return charmap.KOI8R
	case 21866:
		return charmap.KOI8U
	case 28591:
		return charmap.ISO8859_1
	case 28592:
		return charmap.ISO8859_2
	case 28593:
		return charmap.ISO8859_3
	case 28594:
		return charmap.ISO8859_4
	case 28595:
		return charmap.ISO8859_5
	case 28596:
		return charmap.ISO8859_6
	case 28597:
		return charmap.ISO8859_7
	case 28598, 38598:
		return charmap.ISO8859_8
	case 28599:
		return charmap.ISO8859_9
	case 28603:
		return charmap.ISO8859_13
	case 28605:
		return charmap.ISO8859_15
	case 932:
		return japanese.ShiftJIS
	case 50220, 50221, 50222:
		return japanese.ISO2022JP
	case 51932, 20932:
		return japanese.EUCJP
	case 936, 54936:
		return simplifiedchinese.GB18030
	case 949, 51949:
		return korean.EUCKR
	case 950:
		return traditionalchinese.Big5
	case 1200:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case 1201:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	}
	return nil
}

// decodeCodepage turns 8-bit text in code page cp into UTF-8. Unknown
// code pages are read as windows-1252 unless the text is valid UTF-8.
func decodeCodepage(b []byte, cp int) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii && cp != 1200 && cp != 1201 {
		return string(b)
	}
	if cp == 65001 || cp == 20127 {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	enc := codepageEncoding(cp)
	if enc == nil {
		if s := string(b); isUTF8(s) {
			return s
		}
		enc = charmap.Windows1252
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// multi splits a multi-valued property into its values.
func (v value) multi() []value {
	if v.typ&ptMulti == 0 {
		return nil
	}
	base := v.typ &^ ptMulti
	if sz := fixedSize(base); sz > 0 {
		out := make([]value, 0, len(v.data)/sz)
		for i := 0; i+sz <= len(v.data); i += sz {
			out = append(out, value{typ: base, data: v.data[i : i+sz]})
		}
		return out
	}
	if len(v.data) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(v.data))
	if n > (len(v.data)-4)/4 {
		return nil
	}
	out := make([]value, 0, n)
	for i := 0; i < n; i++ {
		start := int(binary.LittleEndian.Uint32(v.data[4+4*i:]))
		end := len(v.data)
		if i+1 < n {
			end = int(binary.LittleEndian.Uint32(v.data[4+4*(i+1):]))
		}
		if start > end || end > len(v.data) || start < 4+4*n {
			return out
		}
		out = append(out, value{typ: base, data: v.data[start:end]})
	}
	return out
}
