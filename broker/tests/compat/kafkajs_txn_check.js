// kafkajs 2.2.4 transactions against a real brook server: a transactional producer commits and
// aborts across 3 partitions, sending a consumer group's offsets in a transaction; a
// read_committed consumer sees exactly the committed messages, a read_uncommitted one all of
// them, and the group's committed offsets are the committed transaction's.
//
// Usage: node kafkajs_txn_check.js BOOTSTRAP NAME
const { Kafka, logLevel } = require('kafkajs')

const [B, NAME] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'brook-kjs-txn', brokers: [B], logLevel: logLevel.ERROR })
const topic = `kjs-tx-${NAME}`
const input = `kjs-txin-${NAME}`
const group = `kjs-txg-${NAME}`

function expect (cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`)
    process.exit(1)
  }
}

const batch = (prefix, n) => Array.from({ length: n }, (_, i) => ({ partition: i % 3, value: `${prefix}-${i}` }))

async function readAll (readUncommitted, want) {
  const consumer = kafka.consumer({ groupId: `${group}-read-${readUncommitted}-${Date.now()}`, readUncommitted })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const values = []
  let last = Date.now()
  await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()); last = Date.now() } })
  const deadline = Date.now() + 60000
  // Read until the expected count arrived and nothing more came for 3 s.
  while (!(values.length >= want && Date.now() - last > 3000)) {
    expect(Date.now() < deadline, `read ${values.length} of ${want} messages (readUncommitted=${readUncommitted})`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  await consumer.disconnect()
  return values
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }, { topic: input, numPartitions: 3 }] })
  const producer = kafka.producer({ transactionalId: `kjs-${NAME}`, maxInFlightRequests: 1, idempotent: true })
  await producer.connect()

  let txn = await producer.transaction()
  await txn.send({ topic, messages: batch('c1', 30) })
  await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic: input, partitions: [0, 1, 2].map(p => ({ partition: p, offset: `${10 + p}` })) }] })
  await txn.commit()

  txn = await producer.transaction()
  await txn.send({ topic, messages: batch('ab', 30) })
  await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic: input, partitions: [0, 1, 2].map(p => ({ partition: p, offset: `${20 + p}` })) }] })
  await txn.abort()

  txn = await producer.transaction()
  await txn.send({ topic, messages: batch('c2', 30) })
  await txn.commit()
  await producer.disconnect()

  const committed = await readAll(false, 60)
  const want = new Set([...batch('c1', 30), ...batch('c2', 30)].map(m => m.value))
  expect(committed.length === 60 && committed.every(v => want.has(v)), `read_committed saw ${committed.length} messages: ${committed.filter(v => !want.has(v)).slice(0, 3)}`)
  const all = await readAll(true, 90)
  expect(all.length === 90, `read_uncommitted saw ${all.length} of 90 messages`)

  const offsets = await admin.fetchOffsets({ groupId: group, topics: [input] })
  const got = offsets[0].partitions.sort((a, b) => a.partition - b.partition).map(p => p.offset)
  expect(JSON.stringify(got) === JSON.stringify(['10', '11', '12']), `group offsets ${got}`)
  await admin.disconnect()
  console.log('kafkajs transactions: commit/abort over 3 partitions, sendOffsets, read_committed/read_uncommitted')
}

main().catch(e => { console.error(e); process.exit(1) })
