'use strict';

const { Channel } = require('./lib/channel');
const { Sender } = require('./lib/sender');
const { Receiver } = require('./lib/receiver');
const { Batch } = require('./lib/batch');
const { ChannelError } = require('./lib/errors');

module.exports = { Channel, Sender, Receiver, Batch, ChannelError };
