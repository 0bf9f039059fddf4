"""Everything about the 1MSG provider: wire models, the HTTP client, error mapping.

Provider quirks (truthy `fromMe` strings, string times, error text shapes) stop here;
the rest of the package sees clean types.
"""
