"""`kubectl sagemeter ui`: a local web page of the endpoints, live from a watch, with the
plugin's actions as buttons. `server` serves it (aiohttp, 127.0.0.1 only), `guard` decides who
may talk to it, `cluster` watches with the user's credentials, `rows` says what a row shows;
`static/` holds the page itself (plain HTML, CSS and JavaScript: no build step)."""
