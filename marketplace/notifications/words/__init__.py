"""The words of every mail and in-app notice, one module per concept; ``messages`` says
which event gets which."""
