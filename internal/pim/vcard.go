package pim

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/emersion/go-vcard"
)

// field is a vCard property with a text value.
func field(v string, types ...string) *vcard.Field {
	f := &vcard.Field{Value: strings.ReplaceAll(cleanText(v), ";", ",")}
	if len(types) > 0 {
		f.Params = vcard.Params{vcard.ParamType: types}
	}
	return f
}

// component makes one part of a structured value: its separators
// become commas, which the encoder escapes.
func component(v string) string {
	return strings.ReplaceAll(strings.ReplaceAll(cleanText(v), ";", ","), "\n", " ")
}

// encodeContact writes a contact or a group as a vCard 4.0.
func encodeContact(it Item) ([]byte, error) {
	c := it.Contact
	card := vcard.Card{}
	var photo string
	card.SetValue(vcard.FieldVersion, "4.0")
	card.SetValue(vcard.FieldProductID, ProductID)
	card.SetValue(vcard.FieldUID, "urn:uuid:"+uuidOf(it.UID()))
	card.Set(vcard.FieldFormattedName, field(c.FormattedName()))
	if it.Kind == KindGroup {
		card.SetKind(vcard.KindGroup)
		for _, m := range c.Members {
			if m.Email != "" {
				card.Add(vcard.FieldMember, &vcard.Field{Value: "mailto:" + m.Email})
			}
		}
	} else {
		card.Set(vcard.FieldName, &vcard.Field{Value: strings.Join([]string{
			component(c.Family), component(c.Given), component(c.Middle), component(c.Prefix), component(c.Suffix)}, ";")})
	}
	if c.Nickname != "" {
		card.Set(vcard.FieldNickname, field(c.Nickname))
	}
	if c.Company != "" || c.Department != "" {
		v := component(c.Company)
		if c.Department != "" {
			v += ";" + component(c.Department)
		}
		card.Set(vcard.FieldOrganization, &vcard.Field{Value: v})
	}
	if c.JobTitle != "" {
		card.Set(vcard.FieldTitle, field(c.JobTitle))
	}
	addressFields(card, c)
	if len(c.Photo) > 0 {
		typ := c.PhotoType
		if typ == "" {
			typ = "image/jpeg"
		}
		// A data: URI (RFC 6350 6.2.4) is not text: the encoder's escaping
		// of its comma would break it, so it goes in after encoding.
		photo = "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(c.Photo)
		card.SetValue(vcard.FieldPhoto, photoMark)
	}
	if c.Note != "" {
		card.Set(vcard.FieldNote, &vcard.Field{Value: cleanText(c.Note)})
	}
	// One CATEGORIES line each: the encoder escapes the commas that
	// would separate them on one line.
	for _, cat := range c.Categories {
		if cat = component(cat); cat != "" {
			card.Add(vcard.FieldCategories, &vcard.Field{Value: cat})
		}
	}
	if !c.Modified.IsZero() {
		card.SetRevision(c.Modified.UTC())
	}
	var b bytes.Buffer
	if err := vcard.NewEncoder(&b).Encode(card); err != nil {
		return nil, err
	}
	if photo != "" {
		return fold(bytes.Replace(b.Bytes(), []byte(":"+photoMark+"\r\n"), []byte(":"+photo+"\r\n"), 1)), nil
	}
	return fold(b.Bytes()), nil
}

// addressFields adds how to reach the contact: e-mail addresses (the
// first preferred), telephones, postal addresses, dates and web page.
func addressFields(card vcard.Card, c *Contact) {
	for i, e := range c.Emails {
		f := &vcard.Field{Value: e.Email, Params: vcard.Params{}}
		if i == 0 && len(c.Emails) > 1 {
			f.Params.Set(vcard.ParamPreferred, "1")
		}
		card.Add(vcard.FieldEmail, f)
	}
	for _, p := range c.Phones {
		card.Add(vcard.FieldTelephone, field(p.Number, p.Types...))
	}
	for _, a := range c.Addresses {
		f := &vcard.Field{Value: strings.Join([]string{"", "", component(a.Street), component(a.City), component(a.Region), component(a.PostalCode), component(a.Country)}, ";")}
		if a.Type != "" {
			f.Params = vcard.Params{vcard.ParamType: {a.Type}}
		}
		card.Add(vcard.FieldAddress, f)
	}
	if !c.Birthday.IsZero() {
		card.SetValue(vcard.FieldBirthday, c.Birthday.Format(dateLayout))
	}
	if !c.Anniversary.IsZero() {
		card.SetValue(vcard.FieldAnniversary, c.Anniversary.Format(dateLayout))
	}
	if c.URL != "" {
		card.SetValue(vcard.FieldURL, c.URL)
	}
}

// photoMark stands for the PHOTO value until the card is encoded.
const photoMark = "mailshift-photo"

// uuidOf shapes the hex of a derived UID as a UUID for a urn:uuid: URI.
func uuidOf(uid string) string {
	h := strings.TrimPrefix(uid, "mailshift-")
	h = (h + strings.Repeat("0", 32))[:32]
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
