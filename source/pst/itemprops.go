package pst

import (
	"encoding/binary"
	"strings"
	"time"
)

// This file reads the properties of items that are not mail: named
// properties through the name-to-ID map, and multi-valued strings.

// Named properties of [MS-OXPROPS] read for contacts ([MS-OXOCNTC]),
// calendar items ([MS-OXOCAL]), tasks ([MS-OXOTASK]), notes
// ([MS-OXONOTE]) and journal entries ([MS-OXOJRNL]).
var (
	lidKeywords = strName(psPublicStrings, "Keywords") // categories

	lidReminderDelta = lid(psetidCommon, 0x8501)
	lidReminderTime  = lid(psetidCommon, 0x8502)
	lidReminderSet   = lid(psetidCommon, 0x8503)
	lidPrivate       = lid(psetidCommon, 0x8506)
	lidCommonStart   = lid(psetidCommon, 0x8516)
	lidCommonEnd     = lid(psetidCommon, 0x8517)

	lidBusyStatus        = lid(psetidAppointment, 0x8205)
	lidLocation          = lid(psetidAppointment, 0x8208)
	lidApptStartWhole    = lid(psetidAppointment, 0x820D)
	lidApptEndWhole      = lid(psetidAppointment, 0x820E)
	lidApptSubType       = lid(psetidAppointment, 0x8215)
	lidApptRecur         = lid(psetidAppointment, 0x8216)
	lidApptStateFlags    = lid(psetidAppointment, 0x8217)
	lidRecurring         = lid(psetidAppointment, 0x8223)
	lidTimeZoneStruct    = lid(psetidAppointment, 0x8233)
	lidTimeZoneDesc      = lid(psetidAppointment, 0x8234)
	lidGlobalObjectID    = lid(psetidMeeting, 0x0003)
	lidCleanGlobalObject = lid(psetidMeeting, 0x0023)

	lidTaskStatus    = lid(psetidTask, 0x8101)
	lidPercent       = lid(psetidTask, 0x8102)
	lidTaskStart     = lid(psetidTask, 0x8104)
	lidTaskDue       = lid(psetidTask, 0x8105)
	lidTaskCompleted = lid(psetidTask, 0x810F)

	lidNoteColor = lid(psetidNote, 0x8B00)

	lidLogType     = lid(psetidLog, 0x8700)
	lidLogStart    = lid(psetidLog, 0x8706)
	lidLogDuration = lid(psetidLog, 0x8707)
	lidLogTypeDesc = lid(psetidLog, 0x8712)

	lidWorkStreet     = lid(psetidAddress, 0x8045)
	lidWorkCity       = lid(psetidAddress, 0x8046)
	lidWorkState      = lid(psetidAddress, 0x8047)
	lidWorkPostalCode = lid(psetidAddress, 0x8048)
	lidWorkCountry    = lid(psetidAddress, 0x8049)
	lidHTML           = lid(psetidAddress, 0x802B)
	lidDLName         = lid(psetidAddress, 0x8053)
	lidDLOneOff       = lid(psetidAddress, 0x8054)
	lidDLMembers      = lid(psetidAddress, 0x8055)
	lidBirthdayLocal  = lid(psetidAddress, 0x80DE)
	lidWeddingLocal   = lid(psetidAddress, 0x80DF)
)

// lidEmail are the three e-mail addresses of a contact: display name,
// address type, address and original display name ([MS-OXOCNTC] 2.2.1.2).
var lidEmail = [3][4]nameKey{
	{lid(psetidAddress, 0x8080), lid(psetidAddress, 0x8082), lid(psetidAddress, 0x8083), lid(psetidAddress, 0x8084)},
	{lid(psetidAddress, 0x8090), lid(psetidAddress, 0x8092), lid(psetidAddress, 0x8093), lid(psetidAddress, 0x8094)},
	{lid(psetidAddress, 0x80A0), lid(psetidAddress, 0x80A2), lid(psetidAddress, 0x80A3), lid(psetidAddress, 0x80A4)},
}

// props reads an item's property context, its named properties included.
type props struct {
	p     *pc
	cp    int
	names map[nameKey]uint16
}

func (f *file) itemProps(p *pc) props { return props{p: p, cp: codepage(p), names: f.names} }

func (x props) val(id uint16) (value, bool) {
	v, ok, err := x.p.get(id)
	return v, err == nil && ok
}

func (x props) named(k nameKey) (value, bool) {
	id, ok := x.names[k]
	if !ok {
		return value{}, false
	}
	return x.val(id)
}

func (x props) str(id uint16) string {
	v, _ := x.val(id)
	return strings.TrimSpace(v.str(x.cp))
}

func (x props) nstr(k nameKey) string {
	v, _ := x.named(k)
	return strings.TrimSpace(v.str(x.cp))
}

func (x props) time(id uint16) time.Time {
	v, _ := x.val(id)
	return v.time()
}

func (x props) ntime(k nameKey) time.Time {
	v, _ := x.named(k)
	return v.time()
}

func (x props) nint(k nameKey) int64 {
	v, _ := x.named(k)
	return v.int()
}

func (x props) int(id uint16) int64 {
	v, _ := x.val(id)
	return v.int()
}

func (x props) nbool(k nameKey) bool { return x.nint(k) != 0 }

func (x props) nbin(k nameKey) []byte {
	v, ok := x.named(k)
	if !ok || v.typ != ptBinary {
		return nil
	}
	return v.data
}

// categories are the item's Outlook categories.
func (x props) categories() []string {
	v, ok := x.named(lidKeywords)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range v.multi(x.cp) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// multi returns the values of a multi-valued string or binary property:
// a count, an offset per value, then the values ([MS-PST] 2.3.3.4.2).
func (v value) multi(cp int) []string {
	var out []string
	for _, b := range v.multiBytes() {
		out = append(out, value{typ: v.typ &^ ptMulti, data: b}.str(cp))
	}
	return out
}

func (v value) multiBytes() [][]byte {
	if v.typ&ptMulti == 0 || len(v.data) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(v.data))
	if n > len(v.data)/4 {
		return nil
	}
	var out [][]byte
	for i := 0; i < n; i++ {
		start := int(binary.LittleEndian.Uint32(v.data[4+4*i:]))
		end := len(v.data)
		if i+1 < n {
			end = int(binary.LittleEndian.Uint32(v.data[4+4*(i+1):]))
		}
		if start < 4+4*n || start > end || end > len(v.data) {
			return out
		}
		out = append(out, v.data[start:end])
	}
	return out
}
