#!/bin/sh
# Prints an OAuth 2.0 access token for Gmail IMAP (scope
# https://mail.google.com/), e.g. from a service account with domain-wide
# delegation through oauth2l. mailshift runs it at every login, with the
# user to act as for its argument.
set -eu
exec oauth2l fetch --credentials "${GOOGLE_CREDENTIALS:?}" --scope https://mail.google.com/ --impersonate_user "$1" --output_format bare
