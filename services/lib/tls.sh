# TLS material and generated secrets for the local services (PostgreSQL,
# the Kafka broker). Sourced, not run:
#
#   source "$HERE/../lib/tls.sh"
#   tls_make DIR          # DIR/ca.crt, ca.key, server.crt, server.key
#   secret_file PATH      # PATH holds a random password (made once, 0600)
#
# The CA is a local one, made on this machine, for this machine: its
# certificate is what clients trust (sslrootcert, ssl.ca.location). The
# server certificate names 127.0.0.1, ::1 and localhost, so clients can
# verify the host (sslmode=verify-full, librdkafka's default
# ssl.endpoint.identification.algorithm=https). Keys are 0600 and never leave
# the cache directory; nothing here is committed.

# tls_make DIR: makes the CA and the server key and certificate in DIR unless
# they are all there. Valid for 10 years (local, regenerated with the cache).
tls_make() {
  local dir="$1"
  if [[ -s "$dir/ca.crt" && -s "$dir/server.crt" && -s "$dir/server.key" ]]; then
    return 0
  fi
  command -v openssl >/dev/null || { echo "tls: openssl not found (apt-get install openssl)" >&2; return 1; }
  mkdir -p "$dir"
  chmod 700 "$dir"
  local old_umask; old_umask="$(umask)"
  umask 077
  openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=sales-pipeline local CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$dir/server.ext" \
    -out "$dir/server.crt" 2>/dev/null
  rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
  umask "$old_umask"
  chmod 600 "$dir/ca.key" "$dir/server.key"
  # Certificates are public: clients read the CA's.
  chmod 644 "$dir/ca.crt" "$dir/server.crt"
  chmod 755 "$dir"
}

# secret_file PATH: a random 32-character password in PATH (0600), made once.
secret_file() {
  local path="$1"
  [[ -s "$path" ]] && return 0
  mkdir -p "$(dirname "$path")"
  chmod 700 "$(dirname "$path")"
  local old_umask; old_umask="$(umask)"
  umask 077
  # base64 of random bytes, only [A-Za-z0-9]: safe in SQL, JAAS and URLs.
  head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$path"
  umask "$old_umask"
  chmod 600 "$path"
}
