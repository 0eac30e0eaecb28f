package pst

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/source/pst/internal/rtf"
)

// This file is the messaging layer of [MS-PST] section 2.4: the message
// store, the folder hierarchy, contents tables, messages, recipients and
// attachments.

// store holds what the message store (NID 0x21) says about the file.
type store struct {
	name        string
	recordKey   []byte
	ipmSubtree  uint32
	wastebasket uint32
	sentMail    uint32
	hasPassword bool
}

// entryIDNID returns the NID at the end of an EntryID (flags, provider
// UID, NID), or 0.
func entryIDNID(v value, ok bool) uint32 {
	if !ok || len(v.data) != 24 {
		return 0
	}
	return binary.LittleEndian.Uint32(v.data[20:])
}

func (f *file) readStore() (*store, error) {
	n, err := f.openNode(nidMessageStore)
	if err != nil {
		return nil, fmt.Errorf("message store: %w", err)
	}
	p, err := n.openPC()
	if err != nil {
		return nil, fmt.Errorf("message store: %w", err)
	}
	st := &store{}
	if v, ok, err := p.get(propDisplayName); err == nil && ok {
		st.name = v.str(1252)
	}
	if v, ok, err := p.get(propRecordKey); err == nil && ok {
		st.recordKey = v.data
	}
	get := func(id uint16) uint32 {
		v, ok, err := p.get(id)
		if err != nil {
			return 0
		}
		return entryIDNID(v, ok)
	}
	st.ipmSubtree = get(propIpmSubTreeEntryID)
	st.wastebasket = get(propIpmWastebasketEntry)
	st.sentMail = get(propIpmSentMailEntryID)
	if v, ok, err := p.get(propPstPassword); err == nil && ok && v.int() != 0 {
		st.hasPassword = true
	}
	return st, nil
}

// folderInfo is one folder of the hierarchy.
type folderInfo struct {
	nid   uint32
	name  string // full path with '/' between components
	role  string
	class string // PidTagContainerClass, e.g. "IPF.Note"
}

// folderProps reads a folder's display name, container class and
// PidTagIpmDraftsEntryId.
func (f *file) folderProps(nid uint32) (name, class string, drafts uint32, err error) {
	n, err := f.openNode(nid)
	if err != nil {
		return "", "", 0, err
	}
	p, err := n.openPC()
	if err != nil {
		return "", "", 0, err
	}
	if v, ok, err := p.get(propDisplayName); err == nil && ok {
		name = v.str(1252)
	}
	if v, ok, err := p.get(propContainerClass); err == nil && ok {
		class = v.str(1252)
	}
	v, ok, err := p.get(propIpmDraftsEntryID)
	if err == nil {
		drafts = entryIDNID(v, ok)
	}
	return name, class, drafts, nil
}

// tableRows returns the row IDs (NIDs) of the table node nid.
func (f *file) tableRows(nid uint32) ([]uint32, error) {
	n, err := f.openNode(nid)
	if err != nil {
		return nil, err
	}
	t, err := n.openTC()
	if err != nil {
		return nil, err
	}
	ids := make([]uint32, 0, t.nrows)
	for i := 0; i < t.nrows; i++ {
		row, err := t.row(i)
		if err != nil {
			return nil, err
		}
		if id, ok := t.rowID(row); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// children returns the NIDs of the normal folders below folder nid, in
// NID order: those its hierarchy table lists and those the node B-tree
// names it the parent of (tables written by some tools are incomplete).
// Search folders are left out: they hold no messages of their own.
func (f *file) children(nid uint32) ([]uint32, error) {
	ids, err := f.tableRows(nid&^0x1F | nidTypeHierarchy)
	if err != nil && len(f.kids[nid]) == 0 {
		return nil, fmt.Errorf("hierarchy table of folder %#x: %w", nid, err)
	}
	return mergeNIDs(ids, f.kids[nid], nidTypeNormalFolder), nil
}

// mergeNIDs returns the NIDs of type typ in a or b, sorted, once each.
func mergeNIDs(a, b []uint32, typ uint32) []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	for _, l := range [][]uint32{a, b} {
		for _, id := range l {
			if id&0x1F == typ && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// indexParents records, from the node B-tree, the folders and messages
// below each folder. A damaged node B-tree leaves the index incomplete;
// the tables still count.
func (f *file) indexParents() {
	f.kids = map[uint32][]uint32{}
	n := 0
	_ = f.eachNode(func(ne nodeEntry) error {
		t := ne.nid & 0x1F
		if (t == nidTypeNormalFolder || t == nidTypeMessage) && ne.parent != ne.nid && ne.parent != 0 {
			f.kids[ne.parent] = append(f.kids[ne.parent], ne.nid)
			n++
		}
		return nil
	})
}

// topFolder finds the top of the personal folders (the IPM subtree): the
// store's PidTagIpmSubTreeEntryId, else the root folder's child that is
// not a search folder and has children of its own, else the root folder.
func (f *file) topFolder(st *store) uint32 {
	if st.ipmSubtree&0x1F == nidTypeNormalFolder {
		if _, err := f.lookupNode(st.ipmSubtree); err == nil {
			return st.ipmSubtree
		}
	}
	kids, err := f.children(nidRootFolder)
	if err == nil {
		for _, k := range kids {
			name, _, _, err := f.folderProps(k)
			if err == nil && strings.HasPrefix(strings.ToLower(name), "top of ") {
				return k
			}
		}
	}
	return nidRootFolder
}

const maxFolderDepth = 64

// folders walks the hierarchy below the top of the personal folders.
// Folder names are joined with '/'; a '/' inside a name becomes '_'; an
// empty name becomes "unnamed-<nid>"; a second sibling of the same name
// gets " (2)" and so on, in NID order. The top itself is listed (under its
// own name) only when it holds messages.
func (f *file) folders(st *store) ([]folderInfo, error) {
	top := f.topFolder(st)
	var out []folderInfo
	seen := map[uint32]bool{top: true}
	roles := map[uint32]string{}
	if st.sentMail != 0 {
		roles[st.sentMail] = "\\Sent"
	}
	if st.wastebasket != 0 {
		roles[st.wastebasket] = "\\Trash"
	}
	if _, _, d, err := f.folderProps(top); err == nil && d != 0 {
		roles[d] = "\\Drafts"
	}
	var walk func(nid uint32, prefix string, depth int) error
	walk = func(nid uint32, prefix string, depth int) error {
		if depth > maxFolderDepth {
			return corruptf("folder hierarchy deeper than %d levels", maxFolderDepth)
		}
		kids, err := f.children(nid)
		if err != nil {
			return err
		}
		used := map[string]int{}
		for _, k := range kids {
			if seen[k] {
				continue // a cycle, or a folder listed twice
			}
			seen[k] = true
			name, class, _, err := f.folderProps(k)
			if err != nil {
				return fmt.Errorf("folder %#x: %w", k, err)
			}
			name = strings.ReplaceAll(name, "/", "_")
			if name == "" {
				name = fmt.Sprintf("unnamed-%x", k)
			}
			key := strings.ToLower(name)
			used[key]++
			if c := used[key]; c > 1 {
				name = fmt.Sprintf("%s (%d)", name, c)
			}
			full := name
			if prefix != "" {
				full = prefix + "/" + name
			}
			out = append(out, folderInfo{nid: k, name: full, role: roles[k], class: class})
			if err := walk(k, full, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(top, "", 0); err != nil {
		return nil, err
	}
	if ids, err := f.tableRows(top&^0x1F | nidTypeContents); err == nil && len(ids) > 0 {
		name, class, _, _ := f.folderProps(top)
		name = strings.ReplaceAll(name, "/", "_")
		if name == "" {
			name = "Top of Personal Folders"
		}
		for _, fi := range out {
			if strings.EqualFold(fi.name, name) {
				name += " (top)"
				break
			}
		}
		out = append([]folderInfo{{nid: top, name: name, class: class}}, out...)
	}
	return out, nil
}

// summary is what listing a folder needs of a message: read from its
// property context only.
type summary struct {
	nid      uint32
	class    string
	subject  string
	flags    int64
	date     time.Time
	flagged  bool
	answered bool
	forward  bool
	// keywords are the item's Outlook categories as IMAP keywords.
	keywords []string
}

// contents returns the NIDs of the messages in folder nid: those its
// contents table lists and those the node B-tree names it the parent of.
func (f *file) contents(nid uint32) ([]uint32, error) {
	ids, err := f.tableRows(nid&^0x1F | nidTypeContents)
	if err != nil && len(f.kids[nid]) == 0 {
		return nil, fmt.Errorf("contents table of folder %#x: %w", nid, err)
	}
	return mergeNIDs(ids, f.kids[nid], nidTypeMessage), nil
}

// codepage returns the code page of a message's 8-bit strings.
func codepage(p *pc) int {
	for _, id := range []uint16{propMessageCodepage, propInternetCodepage} {
		if v, ok, err := p.get(id); err == nil && ok && v.int() > 0 {
			return int(v.int())
		}
	}
	return 1252
}

// cleanSubject removes the prefix marker of a stored subject: 0x01 and a
// length character before the full subject.
func cleanSubject(s string) string {
	if len(s) >= 2 && s[0] == 0x01 {
		return s[2:]
	}
	return s
}

func (f *file) summarize(nid uint32) (summary, error) {
	n, err := f.openNode(nid)
	if err != nil {
		return summary{}, err
	}
	p, err := n.openPC()
	if err != nil {
		return summary{}, err
	}
	sum := summarizePC(nid, p)
	for _, c := range f.itemProps(p).categories() {
		if k := categoryKeyword(c); k != "" && !slices.Contains(sum.keywords, k) {
			sum.keywords = append(sum.keywords, k)
		}
	}
	return sum, nil
}

// categoryKeyword makes an Outlook category an IMAP keyword (an atom,
// RFC 9051 section 4.1): text outside ASCII in modified UTF-7 as
// Thunderbird writes its tags, spaces and the characters an atom cannot
// hold as "_".
func categoryKeyword(c string) string {
	k := strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7F || strings.ContainsRune(`(){%*"\]`, r) {
			return '_'
		}
		return r
	}, mutf7.Encode(strings.TrimSpace(c)))
	return k
}

func summarizePC(nid uint32, p *pc) summary {
	cp := codepage(p)
	s := summary{nid: nid}
	str := func(id uint16) string {
		v, ok, err := p.get(id)
		if err != nil || !ok {
			return ""
		}
		return v.str(cp)
	}
	s.class = str(propMessageClass)
	s.subject = cleanSubject(str(propSubject))
	if v, ok, err := p.get(propMessageFlags); err == nil && ok {
		s.flags = v.int()
	}
	for _, id := range []uint16{propDeliveryTime, propClientSubmitTime, propCreationTime, propLastModTime} {
		if v, ok, err := p.get(id); err == nil && ok {
			if t := v.time(); !t.IsZero() {
				s.date = t
				break
			}
		}
	}
	if v, ok, err := p.get(propFlagStatus); err == nil && ok && v.int() == 2 {
		s.flagged = true
	}
	if v, ok, err := p.get(propLastVerbExecuted); err == nil && ok {
		switch v.int() {
		case 102, 103:
			s.answered = true
		case 104:
			s.forward = true
		}
	}
	return s
}

// Message flags (PidTagMessageFlags).
const (
	mfRead   = 0x01
	mfUnsent = 0x08
)

// isMail tells whether a message class is mail: IPM.Note and its
// subclasses, posts, meeting and task requests (which arrive as mail),
// reports (delivery and read receipts), and a missing class.
func isMail(class string) bool {
	c := strings.ToLower(class)
	if c == "" || c == "ipm" {
		return true
	}
	for _, p := range []string{"ipm.note", "ipm.post", "ipm.schedule.meeting", "ipm.taskrequest", "ipm.outlook.recall", "ipm.recall", "ipm.sharing", "ipm.ole.class"} {
		if c == p || strings.HasPrefix(c, p+".") {
			return true
		}
	}
	return strings.HasPrefix(c, "report.")
}

// kindOf names a non-mail message class for people.
func kindOf(class string) string {
	c := strings.ToLower(class)
	for _, k := range []struct{ prefix, name string }{
		{"ipm.appointment", "calendar item"},
		{"ipm.contact", "contact"},
		{"ipm.distlist", "distribution list"},
		{"ipm.task", "task"},
		{"ipm.stickynote", "note"},
		{"ipm.activity", "journal entry"},
		{"ipm.document", "document"},
		{"ipm.configuration", "configuration item"},
		{"ipm.microsoft", "configuration item"},
	} {
		if c == k.prefix || strings.HasPrefix(c, k.prefix+".") {
			return k.name
		}
	}
	return "non-mail item"
}

// address is a sender or recipient.
type address struct {
	name  string
	email string
}

// attachment is one attachment of a message.
type attachment struct {
	name      string
	mimeType  string
	contentID string
	method    int
	hidden    bool
	photo     bool // a contact's photo (PidTagAttachmentContactPhoto)
	size      int64
	inline    []byte  // the data when it is held in the heap
	data      *stream // the data when it is held in a subnode
	embedded  *message
}

// message is a message as read from the file, ready to be composed.
type message struct {
	nid        uint32
	class      string
	subject    string
	headers    string // PidTagTransportMessageHeaders
	from       address
	sender     address
	to, cc     []address
	bcc        []address
	date       time.Time
	messageID  string
	inReplyTo  string
	references string
	text       string
	html       string
	attach     []attachment
}

// Attachment methods (PidTagAttachMethod).
const (
	afByValue         = 1
	afEmbeddedMessage = 5
	afStorage         = 6
)

// budget bounds the work of reading one message with everything embedded
// in it, so that a file whose attachments refer to the same objects over
// and over cannot cost more than the file holds.
type budget struct {
	objects int   // messages and attachments left
	bytes   int64 // attachment and body bytes left
}

func (f *file) newBudget() *budget {
	return &budget{objects: maxObjects, bytes: 2*f.size + 1<<20}
}

func (b *budget) spend(objects int, bytes int64) error {
	b.objects -= objects
	b.bytes -= bytes
	if b.objects < 0 {
		return corruptf("more than %d attachments and embedded messages", maxObjects)
	}
	if b.bytes < 0 {
		return corruptf("attachments and bodies larger than the file can hold")
	}
	return nil
}

const maxObjects = 10000

// readMessage reads the message in node n (a message node, or the
// subnode of an embedded message), with recipients, bodies and
// attachments; depth counts the embedding.
func (f *file) readMessage(n *node, depth int, b *budget) (*message, error) {
	if depth > maxEmbedDepth {
		return nil, corruptf("messages embedded more than %d deep", maxEmbedDepth)
	}
	if err := b.spend(1, 0); err != nil {
		return nil, err
	}
	p, err := n.openPC()
	if err != nil {
		return nil, err
	}
	cp := codepage(p)
	str := func(id uint16) string {
		v, ok, err := p.get(id)
		if err != nil || !ok {
			return ""
		}
		return v.str(cp)
	}
	s := summarizePC(n.nid, p)
	m := &message{nid: n.nid, class: s.class, subject: s.subject, date: s.date}
	if v, ok, err := p.get(propClientSubmitTime); err == nil && ok && !v.time().IsZero() {
		m.date = v.time()
	}
	m.headers = str(propTransportHeaders)
	m.messageID = strings.TrimSpace(str(propInternetMessageID))
	m.inReplyTo = strings.TrimSpace(str(propInReplyTo))
	m.references = strings.TrimSpace(str(propInternetReferences))
	m.from = address{name: str(propSentRepName), email: smtpOf(str(propSentRepAddrType), str(propSentRepEmail), str(propSentRepSmtpAddress))}
	m.sender = address{name: str(propSenderName), email: smtpOf(str(propSenderAddrType), str(propSenderEmail), str(propSenderSmtpAddress))}
	if m.from.name == "" && m.from.email == "" {
		m.from = m.sender
	}
	if m.sender == m.from {
		m.sender = address{}
	}
	if err := f.readBodies(p, cp, m); err != nil {
		return nil, err
	}
	if err := b.spend(0, int64(len(m.text)+len(m.html)+len(m.headers))); err != nil {
		return nil, err
	}
	if err := f.readRecipients(n, cp, m); err != nil {
		return nil, err
	}
	if m.to == nil && m.cc == nil && m.bcc == nil {
		// No recipient table: fall back to the display lists.
		for _, part := range splitDisplay(str(propDisplayTo)) {
			m.to = append(m.to, address{name: part})
		}
		for _, part := range splitDisplay(str(propDisplayCc)) {
			m.cc = append(m.cc, address{name: part})
		}
		for _, part := range splitDisplay(str(propDisplayBcc)) {
			m.bcc = append(m.bcc, address{name: part})
		}
	}
	if err := f.readAttachments(n, cp, m, depth, b); err != nil {
		return nil, err
	}
	return m, nil
}

func splitDisplay(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// smtpOf picks an SMTP address: the explicit SMTP address, else the
// e-mail address when its type is SMTP (or it looks like one).
func smtpOf(typ, email, smtp string) string {
	if strings.Contains(smtp, "@") {
		return smtp
	}
	if strings.EqualFold(typ, "SMTP") || (typ == "" && strings.Contains(email, "@")) || (!strings.EqualFold(typ, "EX") && strings.Contains(email, "@") && !strings.HasPrefix(email, "/")) {
		return email
	}
	return ""
}

// readBodies fills the plain text and HTML bodies: PidTagBody,
// PidTagHtml (binary in the internet code page, or a string), and the
// compressed RTF when it carries HTML or is the only body.
func (f *file) readBodies(p *pc, cp int, m *message) error {
	if v, ok, err := p.get(propBody); err != nil {
		return fmt.Errorf("body: %w", err)
	} else if ok {
		m.text = v.str(cp)
	}
	if v, ok, err := p.get(propHTML); err != nil {
		return fmt.Errorf("HTML body: %w", err)
	} else if ok {
		hcp := cp
		if iv, ok, err := p.get(propInternetCodepage); err == nil && ok && iv.int() > 0 {
			hcp = int(iv.int())
		}
		m.html = v.str(hcp)
	}
	if m.html != "" {
		return nil
	}
	v, ok, err := p.get(propRtfCompressed)
	if err != nil {
		return fmt.Errorf("RTF body: %w", err)
	}
	if !ok || v.typ != ptBinary {
		return nil
	}
	raw, err := rtf.Decompress(v.data)
	if err != nil {
		return nil // an unreadable RTF body leaves the other bodies
	}
	if h, ok := rtf.HTML(raw); ok {
		m.html = h
		return nil
	}
	if m.text == "" {
		m.text = rtf.Text(raw)
	}
	return nil
}

// Recipient table columns.
const (
	colRecipientType = propRecipientType<<16 | ptInt32
	colDisplayName   = propDisplayName<<16 | ptUnicode
	colDisplayName8  = propDisplayName<<16 | ptString8
	colEmail         = propEmailAddress<<16 | ptUnicode
	colEmail8        = propEmailAddress<<16 | ptString8
	colAddrType      = propAddrType<<16 | ptUnicode
	colAddrType8     = propAddrType<<16 | ptString8
	colSmtp          = propSmtpAddress<<16 | ptUnicode
	colSmtp8         = propSmtpAddress<<16 | ptString8
)

func (f *file) readRecipients(n *node, cp int, m *message) error {
	sn, err := n.sub(nidRecipientTable)
	if err != nil {
		return nil // no recipient table
	}
	t, err := sn.openTC()
	if err != nil {
		return fmt.Errorf("recipient table: %w", err)
	}
	str := func(row []byte, tags ...uint32) string {
		for _, tag := range tags {
			if v, ok, err := t.cell(row, tag); err == nil && ok {
				return v.str(cp)
			}
		}
		return ""
	}
	for i := 0; i < t.nrows; i++ {
		row, err := t.row(i)
		if err != nil {
			return fmt.Errorf("recipient table: %w", err)
		}
		var kind int64 = 1
		if v, ok, err := t.cell(row, colRecipientType); err == nil && ok {
			kind = v.int()
		}
		a := address{name: str(row, colDisplayName, colDisplayName8)}
		a.email = smtpOf(str(row, colAddrType, colAddrType8), str(row, colEmail, colEmail8), str(row, colSmtp, colSmtp8))
		switch kind & 0x0F {
		case 2:
			m.cc = append(m.cc, a)
		case 3:
			m.bcc = append(m.bcc, a)
		default:
			m.to = append(m.to, a)
		}
	}
	return nil
}

func (f *file) readAttachments(n *node, cp int, m *message, depth int, b *budget) error {
	sn, err := n.sub(nidAttachmentTable)
	if err != nil {
		return nil // no attachments
	}
	t, err := sn.openTC()
	if err != nil {
		return fmt.Errorf("attachment table: %w", err)
	}
	for i := 0; i < t.nrows; i++ {
		row, err := t.row(i)
		if err != nil {
			return fmt.Errorf("attachment table: %w", err)
		}
		id, ok := t.rowID(row)
		if !ok {
			continue
		}
		an, err := n.sub(id)
		if err != nil {
			return fmt.Errorf("attachment %#x: %w", id, err)
		}
		a, err := f.readAttachment(an, cp, depth, b)
		if err != nil {
			return fmt.Errorf("attachment %#x: %w", id, err)
		}
		if err := b.spend(1, a.size); err != nil {
			return err
		}
		m.attach = append(m.attach, a)
	}
	return nil
}

func (f *file) readAttachment(n *node, cp int, depth int, b *budget) (attachment, error) {
	p, err := n.openPC()
	if err != nil {
		return attachment{}, err
	}
	str := func(id uint16) string {
		v, ok, err := p.get(id)
		if err != nil || !ok {
			return ""
		}
		return v.str(cp)
	}
	a := attachment{method: afByValue}
	if v, ok, err := p.get(propAttachMethod); err == nil && ok {
		a.method = int(v.int())
	}
	a.name = str(propAttachLongFilename)
	if a.name == "" {
		a.name = str(propAttachFilename)
	}
	if a.name == "" {
		a.name = str(propDisplayName)
	}
	a.mimeType = strings.TrimSpace(str(propAttachMimeTag))
	a.contentID = strings.Trim(strings.TrimSpace(str(propAttachContentID)), "<>")
	if v, ok, err := p.get(propAttachmentHidden); err == nil && ok && v.int() != 0 {
		a.hidden = true
	}
	if v, ok, err := p.get(propAttachContactPhoto); err == nil && ok && v.int() != 0 {
		a.photo = true
	}
	e, hasData := p.props[propAttachDataBinary]
	if a.method == afEmbeddedMessage || (hasData && e.typ == ptObject) {
		if !hasData || e.typ != ptObject {
			return a, nil // an embedded message without its object: nothing to attach
		}
		// The value is a heap allocation holding the NID of the subnode
		// with the message and its size ([MS-PST] 2.3.3.5), or that NID.
		nid := e.raw
		if e.raw&0x1F == nidTypeHID {
			b, err := p.h.alloc(e.raw)
			if err != nil {
				return a, err
			}
			if len(b) < 4 {
				return a, corruptf("attachment object of %d bytes", len(b))
			}
			nid = binary.LittleEndian.Uint32(b)
		}
		en, err := n.sub(nid)
		if err != nil {
			return a, err
		}
		a.embedded, err = f.readMessage(en, depth+1, b)
		if err != nil {
			return a, fmt.Errorf("embedded message: %w", err)
		}
		a.method = afEmbeddedMessage
		return a, nil
	}
	if !hasData {
		return a, nil
	}
	s, inline, err := p.stream(propAttachDataBinary)
	if err != nil {
		return a, err
	}
	if s != nil {
		a.data, a.size = s, s.total
	} else {
		a.inline, a.size = inline, int64(len(inline))
	}
	return a, nil
}
