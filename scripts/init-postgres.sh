#!/usr/bin/env bash
# Creates codelab's PostgreSQL databases: agent_runtime and auth_db, plus any names listed in
# POSTGRES_MULTIPLE_DATABASES (comma- or space-separated). Each is owned by POSTGRES_USER,
# who gets every privilege on it.
#
# Idempotent: a database that exists is left as it is, so a second run changes nothing and
# succeeds. Runs as /docker-entrypoint-initdb.d/init-postgres.sh in the postgres image (which
# sets POSTGRES_USER and starts the server on its local socket), or by hand against any server:
#
#   PGHOST=127.0.0.1 POSTGRES_USER=postgres scripts/init-postgres.sh
#
# Environment: POSTGRES_USER (default postgres), POSTGRES_DB (the database to connect to,
# default POSTGRES_USER), POSTGRES_MULTIPLE_DATABASES (extra names), and the usual libpq
# variables (PGHOST, PGPORT, PGPASSWORD).
set -euo pipefail

user="${POSTGRES_USER:-postgres}"
maintenance_db="${POSTGRES_DB:-$user}"
names="agent_runtime auth_db ${POSTGRES_MULTIPLE_DATABASES:-}"

psql_admin() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$user" --dbname "$maintenance_db" "$@"
}

valid_name='^[A-Za-z_][A-Za-z0-9_]{0,62}$'
for name in ${names//,/ }; do
    if [[ ! "$name" =~ $valid_name ]]; then
        echo "init-postgres: '$name' is not a valid database name (letters, digits, _; at most 63)" >&2
        exit 2
    fi
done

seen=" "
for name in ${names//,/ }; do
    [[ "$seen" == *" $name "* ]] && continue
    seen+="$name "
    exists="$(psql_admin --tuples-only --no-align \
        --set=name="$name" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'name';
SQL
)"
    if [[ "$exists" == "1" ]]; then
        echo "init-postgres: database $name exists"
    else
        # CREATE DATABASE cannot run inside a transaction block or a DO block, so two scripts
        # can race here: the loser's CREATE fails, and it succeeds only if the database does
        # exist now (any other failure stops the script).
        if psql_admin --set=name="$name" --set=owner="$user" 2>"${TMPDIR:-/tmp}/init-postgres.$$" <<'SQL'
CREATE DATABASE :"name" OWNER :"owner";
SQL
        then
            echo "init-postgres: created database $name"
        elif [[ "$(psql_admin --tuples-only --no-align --set=name="$name" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'name';
SQL
)" == "1" ]]; then
            echo "init-postgres: database $name was created by another run at the same time"
        else
            cat "${TMPDIR:-/tmp}/init-postgres.$$" >&2
            rm -f "${TMPDIR:-/tmp}/init-postgres.$$"
            exit 1
        fi
        rm -f "${TMPDIR:-/tmp}/init-postgres.$$"
    fi
    # Grant only what is missing, so a second run writes nothing (and two runs at once do not
    # race on the catalogue).
    granted="$(psql_admin --tuples-only --no-align --set=name="$name" --set=owner="$user" <<'SQL'
SELECT (has_database_privilege(:'owner', :'name', 'CREATE')
    AND has_database_privilege(:'owner', :'name', 'CONNECT')
    AND has_database_privilege(:'owner', :'name', 'TEMPORARY'))::int;
SQL
)"
    if [[ "$granted" != "1" ]]; then
        psql_admin --set=name="$name" --set=owner="$user" <<'SQL'
GRANT ALL PRIVILEGES ON DATABASE :"name" TO :"owner";
SQL
        echo "init-postgres: granted all privileges on $name to $user"
    fi
done
