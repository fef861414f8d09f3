"""Roles the owner makes inside their database, without CREATEROLE.

PostgreSQL 15's CREATEROLE lets a role grant itself pg_execute_server_program (and so run
programs on the host): the owner does not get it. Instead, three functions in the schema
``nexq`` of the owner's database, run with the rights of the role that made them
(SECURITY DEFINER), create, re-password and drop plain roles; the owner gets each role it
makes WITH ADMIN OPTION, so it grants, revokes and drops it as its own. A function refuses
every role it did not make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql

# Run in the owner's database as the superuser, once it exists. {owner} is the owner's role.
FUNCTIONS = """
CREATE SCHEMA nexq AUTHORIZATION postgres;
REVOKE ALL ON SCHEMA nexq FROM PUBLIC;
GRANT USAGE ON SCHEMA nexq TO {owner};

CREATE FUNCTION nexq.check_role_name(role_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role_name IS NULL OR role_name !~ '^[a-z_][a-z0-9_]{{0,62}}$'
       OR role_name LIKE 'pg\\_%' OR role_name IN ('postgres', 'public', 'nexq', {owner_text})
    THEN
        RAISE EXCEPTION 'role name %: 1 to 63 lowercase letters, digits and _, not starting '
            'with pg_, and not postgres, public, nexq or the owner', role_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE FUNCTION nexq.made_by_owner(role_name text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT FROM pg_auth_members m
        JOIN pg_roles r ON r.oid = m.roleid
        JOIN pg_roles o ON o.oid = m.member
        WHERE r.rolname = role_name AND o.rolname = {owner_text} AND m.admin_option
    )
$$;

CREATE FUNCTION nexq.create_role(role_name text, password text, login boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexq.check_role_name(role_name);
    -- Checked first: a failing CREATE ROLE would write its statement, password included,
    -- to the server's log.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role % exists already', role_name USING ERRCODE = 'duplicate_object';
    END IF;
    EXECUTE format('CREATE ROLE %I %s PASSWORD %L', role_name,
        CASE WHEN login THEN 'LOGIN' ELSE 'NOLOGIN' END, password);
    EXECUTE format('GRANT %I TO {owner} WITH ADMIN OPTION', role_name);
END $$;

CREATE FUNCTION nexq.set_role_password(role_name text, password text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT nexq.made_by_owner(role_name) THEN
        RAISE EXCEPTION 'role % was not made with nexq.create_role', role_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('ALTER ROLE %I PASSWORD %L', role_name, password);
END $$;

CREATE FUNCTION nexq.drop_role(role_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT nexq.made_by_owner(role_name) THEN
        RAISE EXCEPTION 'role % was not made with nexq.create_role', role_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('DROP ROLE %I', role_name);
END $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA nexq FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nexq.create_role(text, text, boolean),
    nexq.set_role_password(text, text), nexq.drop_role(text) TO {owner};
"""


def functions(owner: str) -> sql.Composed:
    """The statements that give ``owner`` the role functions."""
    from psycopg import sql  # only when a database is made: never at a command's start

    return sql.SQL(FUNCTIONS).format(owner=sql.Identifier(owner), owner_text=sql.Literal(owner))
