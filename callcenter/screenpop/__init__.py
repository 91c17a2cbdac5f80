"""Screen pops: when an agent's phone starts ringing, the caller's CRM card reaches that
agent's console (and no one else's) before the agent answers.

``detect`` (pure) tells from call-model events which agent is being rung for which caller;
``service`` looks the caller up and hands the card to the ``hub``, which holds each agent's
open WebSocket streams. The route is ``/ws/agents/{agent_id}`` (callcenter/web/routes/agents.py).
"""
