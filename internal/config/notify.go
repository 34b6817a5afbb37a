package config

import "github.com/lagship/lagship/sources"

// mirrorTopics maps each mirror to its topics, nil for a mirror that finds
// them at run time (topics_regex), for the notify section's validation.
func (c *Config) mirrorTopics() map[string][]string {
	out := make(map[string][]string, len(c.Mirrors))
	for i := range c.Mirrors {
		m := &c.Mirrors[i]
		topics := append([]string{}, m.Topics...)
		if lt, ok := m.Settings.(sources.TopicsOptional); ok && (lt.ListsTopics() || len(m.Topics) == 0) {
			topics = nil
		}
		out[m.Name] = topics
	}
	return out
}
