package view

import "sort"

// URIs returns SpamAssassin's URI list, the strings uri rules run on
// (PerMsgStatus.pm get_uri_list), sorted. Only the URIs of the HTML parts
// are listed, canonicalised as written: see README.md.
func (m *Message) URIs() []string {
	m.uriOnce.Do(func() {
		m.Body()
		seen := map[string]bool{}
		for _, u := range m.htmlURIs {
			if !seen[u.uri] {
				seen[u.uri] = true
				m.uris = append(m.uris, u.uri)
			}
		}
		sort.Strings(m.uris)
	})
	return m.uris
}
