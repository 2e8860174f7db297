'use strict';

const { Channel } = require('./lib/channel');
const { Broadcast, BroadcastSender } = require('./lib/broadcast');
const { Sender } = require('./lib/sender');
const { Receiver } = require('./lib/receiver');
const { Batch } = require('./lib/batch');
const { Watch } = require('./lib/watch');
const { Mailbox } = require('./lib/mailbox');
const { ChannelError } = require('./lib/errors');

module.exports = { Channel, Broadcast, BroadcastSender, Sender, Receiver, Batch, Watch, Mailbox, ChannelError };
