export { GalleyFollower, type GalleyFollowerHandlers, type GalleyFollowerStatus } from './galley-follower';
