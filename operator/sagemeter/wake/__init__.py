"""The event queue per (account, region): wake requests from routes, and AWS's own events
(idle alarms, endpoint states), long-polled so sagemeter reacts within about a second."""
