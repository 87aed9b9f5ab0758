// Smoke test for the local Kafka broker: transactions must work.
// Run by `deploy/local/kafka.sh verify` as a single-file Java program
// (java -cp "<kafka libs>/*" TxCheck.java BOOTSTRAP TOPIC):
//   1. creates TOPIC (1 partition, rf 1) if missing,
//   2. commits one transaction of 3 records and aborts one of 1 record,
//   3. reads the topic with isolation.level=read_committed and checks that
//      exactly the 3 committed records of this run are visible.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxCheck {
    public static void main(String[] args) throws Exception {
        String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:19092";
        String topic = args.length > 1 ? args[1] : "happychat-smoke";
        String run = UUID.randomUUID().toString();

        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);

        try (Admin admin = Admin.create(common)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        }

        Properties pp = new Properties();
        pp.putAll(common);
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("transactional.id", "happychat-txcheck");
        pp.put("enable.idempotence", "true");
        pp.put("acks", "all");
        try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 3; i++) p.send(new ProducerRecord<>(topic, run, run + ":committed:" + i));
            p.commitTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, run, run + ":aborted"));
            p.flush();
            p.abortTransaction();
        }

        Properties cp = new Properties();
        cp.putAll(common);
        cp.put("key.deserializer", StringDeserializer.class.getName());
        cp.put("value.deserializer", StringDeserializer.class.getName());
        cp.put("isolation.level", "read_committed");
        cp.put("enable.auto.commit", "false");
        List<String> seen = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp); // = last stable offset under read_committed
            long deadline = System.currentTimeMillis() + 20_000;
            while (c.position(tp) < end && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    if (run.equals(r.key())) seen.add(r.value());
                }
            }
        }
        List<String> want = List.of(run + ":committed:0", run + ":committed:1", run + ":committed:2");
        if (!seen.equals(want)) {
            System.err.println("TxCheck FAILED: read_committed saw " + seen + ", want " + want);
            System.exit(1);
        }
        System.out.println("TxCheck OK: 3 committed records visible, aborted record hidden (topic " + topic + ")");
    }
}
