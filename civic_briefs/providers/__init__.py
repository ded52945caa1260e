"""Provider interfaces (script writer, speech renderer, news source, storage) and their
implementations: one real and one offline per kind, chosen from settings in ``registry``."""
