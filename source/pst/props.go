package pst

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding"

	codepages "github.com/mailshift/mailshift/source/internal/codepage"
	"golang.org/x/text/encoding/charmap"
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
	propAttachContactPhoto   = 0x7FFF
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
	if cp == 0 {
		cp = 1252
	}
	return codepages.Encoding(cp)
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

// float64frombits reads a PtypFloating64.
func float64frombits(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
