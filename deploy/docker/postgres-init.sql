-- One database per service (database per service: no service reads another's tables).
CREATE DATABASE intake;
CREATE DATABASE routing;
CREATE DATABASE sla;
CREATE DATABASE survey;
CREATE DATABASE analytics;
