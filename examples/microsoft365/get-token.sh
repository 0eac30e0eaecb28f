#!/bin/sh
# Prints an OAuth 2.0 access token for Exchange Online IMAP (client
# credentials of an app registration). mailshift runs it at every login.
# TENANT, CLIENT_ID and CLIENT_SECRET come from the environment, never from
# a file in the project.
set -eu
curl -fsS "https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token" \
  --data-urlencode "client_id=${CLIENT_ID}" \
  --data-urlencode "client_secret=${CLIENT_SECRET}" \
  --data-urlencode "scope=https://outlook.office365.com/.default" \
  --data-urlencode "grant_type=client_credentials" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
