-- The demo source `schemata dev` registers: a small shop, written for Schemata.
CREATE SCHEMA IF NOT EXISTS sales;

CREATE TYPE sales.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');

CREATE TABLE public.customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       character varying(254) NOT NULL UNIQUE,
    full_name   text NOT NULL,
    country     character(2),
    preferences jsonb NOT NULL DEFAULT '{}',
    created_at  timestamp with time zone NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.customers IS 'People who buy from the shop.';
COMMENT ON COLUMN public.customers.email IS 'Login and contact address.';

CREATE TABLE public.products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}',
    in_stock    boolean NOT NULL DEFAULT true
);

CREATE TABLE sales.orders (
    id          uuid PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES public.customers (id),
    status      sales.order_status NOT NULL DEFAULT 'pending',
    placed_on   date NOT NULL,
    note        text
);
CREATE INDEX orders_customer_idx ON sales.orders (customer_id);

CREATE TABLE sales.order_items (
    order_id    uuid NOT NULL REFERENCES sales.orders (id) ON DELETE CASCADE,
    line        integer NOT NULL,
    sku         text NOT NULL REFERENCES public.products (sku),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line)
);

CREATE VIEW sales.order_totals AS
    SELECT o.id AS order_id, o.customer_id, sum(i.quantity * i.unit_price) AS total
    FROM sales.orders o JOIN sales.order_items i ON i.order_id = o.id
    GROUP BY o.id, o.customer_id;
COMMENT ON VIEW sales.order_totals IS 'What each order is worth.';

INSERT INTO public.customers (email, full_name, country) VALUES
    ('ada@example.com', 'Ada Lovelace', 'GB'),
    ('grace@example.com', 'Grace Hopper', 'US');
INSERT INTO public.products (sku, name, price, tags) VALUES
    ('MUG-1', 'Schema mug', 12.50, '{kitchen}'),
    ('TEE-1', 'Cache tee', 25.00, '{apparel}');
