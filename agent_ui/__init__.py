"""The browser apps (plain HTML, CSS and JS), shipped inside the Python package so that
``pip install`` alone serves them: ``live/`` is the live page of calls, queues, agents and
campaigns over ``/ws/events``; the agent console and the supervisor wallboard come next."""
