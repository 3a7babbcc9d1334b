"""Community energy clusters: members pool money (a ledger account) and decide together by vote.

tally.py decides (pure, table-tested); lifecycle.py is the proposal's state machine; members.py creates,
joins, invites, contributes and leaves; proposals.py opens, votes, closes and executes proposals;
texts.py says it all by SMS and on screens.
"""
