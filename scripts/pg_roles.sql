-- Production on PostgreSQL: two roles (issue 11 item 9 d).
--
--   assetreg_owner  owns the schema, the tables, the sequences and the trigger function; runs the
--                   migrations (flask db upgrade) through its own URL, and nothing else.
--   assetreg_app    the application's connection: SELECT, INSERT, UPDATE, DELETE on the tables and
--                   USAGE on the sequences, nothing more. Not an owner, so it cannot ALTER a table,
--                   DISABLE or DROP a trigger, TRUNCATE, or switch triggers off with
--                   session_replication_role; the append-only triggers of the ledger and the change log
--                   therefore hold against the application itself.
--
-- Run as a superuser (or the database owner) in the application's database, once, and again after
-- restoring a dump made by another role; it is idempotent. Set the passwords afterwards, e.g.
--   psql -d assetreg -f scripts/pg_roles.sql
--   psql -d assetreg -c "ALTER ROLE assetreg_owner PASSWORD '…'" -c "ALTER ROLE assetreg_app PASSWORD '…'"
-- then migrate as the owner and serve as the app:
--   DATABASE_URL=postgresql+psycopg://assetreg_owner:…@host/assetreg flask --app wsgi db upgrade
--   DATABASE_URL=postgresql+psycopg://assetreg_app:…@host/assetreg   gunicorn wsgi:app
-- tests/test_pg_roles.py runs this file and shows what the app role can and cannot do.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'assetreg_owner') THEN
        CREATE ROLE assetreg_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'assetreg_app') THEN
        CREATE ROLE assetreg_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO assetreg_owner, assetreg_app', current_database());
END
$$;

-- The owner owns the schema and everything already in it (tables made by another role before).
ALTER SCHEMA public OWNER TO assetreg_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO assetreg_app;
REVOKE CREATE ON SCHEMA public FROM assetreg_app;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
    LOOP
        EXECUTE format('ALTER TABLE public.%I OWNER TO assetreg_owner', r.relname);
    END LOOP;
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'S'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER SEQUENCE public.%I OWNER TO assetreg_owner', r.relname);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.proname LIKE 'assetreg\_%'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO assetreg_owner', r.fn);
    END LOOP;
END
$$;

-- The app: rows only. No TRUNCATE, REFERENCES or TRIGGER privilege, never ownership.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM assetreg_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO assetreg_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO assetreg_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO assetreg_app;

-- Tables and sequences the owner's later migrations create get the same grants.
ALTER DEFAULT PRIVILEGES FOR ROLE assetreg_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO assetreg_app;
ALTER DEFAULT PRIVILEGES FOR ROLE assetreg_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO assetreg_app;
