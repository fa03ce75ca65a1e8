"""Everything that touches the database: migrations, repositories, aggregates and export."""
