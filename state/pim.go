package state

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PIMItem is an item that is not mail uploaded to a CardDAV or CalDAV
// server: the user's item (its source key) and the collection it went to
// ("contacts", "calendar"), the resource's href and ETag, and the hash of
// the bytes uploaded.
type PIMItem struct {
	User       string
	Key        string
	Collection string
	Href       string
	ETag       string
	Hash       string
	Uploaded   time.Time
}

// PutPIMItem records an uploaded item, replacing what was recorded of it.
func (s *Store) PutPIMItem(it PIMItem) error {
	_, err := s.db.Exec(`INSERT OR REPLACE INTO pim_items (source_user, item_key, collection, href, etag, hash, uploaded) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		it.User, it.Key, it.Collection, it.Href, it.ETag, it.Hash, it.Uploaded.UnixNano())
	if err != nil {
		return fmt.Errorf("record the upload of item %s of user %s: %w", it.Key, it.User, err)
	}
	return nil
}

// PIMItemOf returns what was recorded of user's item key in collection;
// ok is false if it was never uploaded.
func (s *Store) PIMItemOf(user, key, collection string) (it PIMItem, ok bool, err error) {
	var at int64
	err = s.db.QueryRow(`SELECT href, etag, hash, uploaded FROM pim_items WHERE source_user = ? AND item_key = ? AND collection = ?`,
		user, key, collection).Scan(&it.Href, &it.ETag, &it.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return PIMItem{}, false, nil
	}
	if err != nil {
		return PIMItem{}, false, fmt.Errorf("read the upload of item %s of user %s: %w", key, user, err)
	}
	it.User, it.Key, it.Collection, it.Uploaded = user, key, collection, time.Unix(0, at).UTC()
	return it, true, nil
}

// PIMCounts counts user's uploaded items by collection.
func (s *Store) PIMCounts(user string) (map[string]int, error) {
	rows, err := s.db.Query(`SELECT collection, count(*) FROM pim_items WHERE source_user = ? GROUP BY collection`, user)
	if err != nil {
		return nil, fmt.Errorf("count the uploaded items of user %s: %w", user, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// PIMItems lists what was recorded of user's uploaded items.
func (s *Store) PIMItems(user string) ([]PIMItem, error) {
	rows, err := s.db.Query(`SELECT item_key, collection, href, etag, hash, uploaded FROM pim_items WHERE source_user = ? ORDER BY collection, item_key`, user)
	if err != nil {
		return nil, fmt.Errorf("read the uploaded items of user %s: %w", user, err)
	}
	defer rows.Close()
	var out []PIMItem
	for rows.Next() {
		it := PIMItem{User: user}
		var at int64
		if err := rows.Scan(&it.Key, &it.Collection, &it.Href, &it.ETag, &it.Hash, &at); err != nil {
			return nil, err
		}
		it.Uploaded = time.Unix(0, at).UTC()
		out = append(out, it)
	}
	return out, rows.Err()
}

// DeletePIMItem forgets an uploaded item (removed from the server).
func (s *Store) DeletePIMItem(user, key, collection string) error {
	if _, err := s.db.Exec(`DELETE FROM pim_items WHERE source_user = ? AND item_key = ? AND collection = ?`, user, key, collection); err != nil {
		return fmt.Errorf("forget the upload of item %s of user %s: %w", key, user, err)
	}
	return nil
}
