"""Community energy clusters: members pool money (a ledger account) and decide together by vote.

tally.py decides (pure, table-tested); lifecycle.py is the proposal's state machine; members.py creates,
invites, contributes and leaves; joining.py joins (at once, or by an admission vote); proposals.py opens, votes, closes and executes proposals;
texts.py says it all by SMS and on screens.
"""
