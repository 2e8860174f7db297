'use strict';

const { Channel } = require('./lib/channel');
const { Broadcast, BroadcastSender } = require('./lib/broadcast');
const { Sender } = require('./lib/sender');
const { Receiver } = require('./lib/receiver');
const { Batch } = require('./lib/batch');
const { ChannelError } = require('./lib/errors');

module.exports = { Channel, Broadcast, BroadcastSender, Sender, Receiver, Batch, ChannelError };
