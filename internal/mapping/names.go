package mapping

import (
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// roleOrder is the order in which roles are resolved. Only these roles are
// mapped by role; \All and \Flagged folders keep their names (hierarchy),
// because they hold copies of messages that live in other folders.
var roleOrder = []string{
	mailbox.RoleSent,
	mailbox.RoleDrafts,
	mailbox.RoleTrash,
	mailbox.RoleJunk,
	mailbox.RoleArchive,
}

// wellKnown lists, per role, the folder names that play the role on an
// endpoint that marks no folder with it. Names are written with "/" as the
// separator and matched case-insensitively; the first name is the plain
// English one, which is also the name a missing target role folder is
// created with. Earlier names win over later ones.
var wellKnown = map[string][]string{
	mailbox.RoleSent: {
		"Sent", "Sent Items", "Sent Messages", "Sent Mail", "Sent-Mail",
		"[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
		"Gesendet", "Gesendete Elemente", "Gesendete Objekte", "Gesendete Nachrichten",
		"Envoyés", "Éléments envoyés", "Messages envoyés",
		"Elementos enviados", "Enviados", "Itens Enviados",
		"Posta inviata", "Inviati",
		"Verzonden items", "Verzonden",
		"Skickat", "Skickade objekt", "Sendt", "Sendte elementer",
		"Wysłane", "Elementy wysłane", "Odeslaná pošta", "Отправленные",
	},
	mailbox.RoleDrafts: {
		"Drafts", "Draft",
		"[Gmail]/Drafts", "[Google Mail]/Drafts",
		"Entwürfe", "Brouillons", "Borradores", "Rascunhos", "Bozze",
		"Concepten", "Utkast", "Kladder", "Kopie robocze", "Koncepty", "Черновики",
	},
	mailbox.RoleTrash: {
		"Trash", "Deleted Items", "Deleted Messages", "Deleted", "Bin",
		"[Gmail]/Trash", "[Gmail]/Bin", "[Google Mail]/Trash", "[Google Mail]/Bin",
		"Papierkorb", "Gelöschte Elemente", "Gelöschte Objekte",
		"Corbeille", "Éléments supprimés",
		"Papelera", "Elementos eliminados", "Lixeira", "Itens Excluídos",
		"Cestino", "Posta eliminata",
		"Prullenbak", "Verwijderde items",
		"Papperskorgen", "Borttagna objekt", "Slettet post", "Slettede elementer",
		"Kosz", "Elementy usunięte", "Koš", "Корзина", "Удаленные",
	},
	mailbox.RoleJunk: {
		"Junk", "Junk E-mail", "Junk Email", "Junk Mail", "Spam", "Bulk Mail",
		"[Gmail]/Spam", "[Google Mail]/Spam",
		"Junk-E-Mail", "Spamverdacht",
		"Courrier indésirable", "Indésirables",
		"Correo no deseado", "Lixo Eletrônico", "Posta indesiderata",
		"Ongewenste e-mail", "Skräppost", "Uønsket e-post",
		"Wiadomości-śmieci", "Nevyžádaná pošta", "Спам", "Нежелательная почта",
	},
	mailbox.RoleArchive: {
		"Archive", "Archives",
		"Archiv", "Archivio", "Archivo", "Archief", "Arkiv", "Archiwum", "Arquivo", "Архив",
	},
}

// wellKnownRank tells where name (with "/" separators) stands in role's
// list of well-known names, or -1 if it is not on it.
func wellKnownRank(role, name string) int {
	for i, w := range wellKnown[role] {
		if strings.EqualFold(w, name) {
			return i
		}
	}
	return -1
}
