-- Used by control_show_explain.slt: RUN SCRIPT with a ${variable}.
CREATE STREAM events (id INT KEY, kind STRING)
  WITH (KAFKA_TOPIC='${topic}', VALUE_FORMAT='JSON', PARTITIONS=1);
