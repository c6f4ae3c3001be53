//! The bench's IoT Core endpoint and local MQTT broker.
